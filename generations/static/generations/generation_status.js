"use strict";
// Keeps the generations changelist current without reloading the page: every few
// seconds it asks the admin's status feed about the rows that have not ended yet and
// swaps in the cells that change (status badge, thumbnail, seed, cost).
(function () {
    const feed = document.getElementById("generation-status-feed");
    if (!feed) {
        return;
    }
    const url = feed.dataset.url;
    const interval = Number(feed.dataset.interval) || 4000;
    let failures = 0;

    function unfinished() {
        return Array.from(document.querySelectorAll("[data-generation-id]")).filter(
            (badge) => badge.dataset.finished !== "true"
        );
    }

    function replaceCell(row, name, html) {
        const cell = row.querySelector(".field-" + name);
        if (!cell) {
            return;
        }
        // A linked column keeps its link (the thumbnail opens the generation).
        const target = cell.querySelector(":scope > a") || cell;
        target.innerHTML = html;
    }

    function apply(data) {
        for (const generation of data.generations) {
            const badge = document.querySelector('[data-generation-id="' + generation.id + '"]');
            if (!badge) {
                continue;
            }
            const row = badge.closest("tr");
            const changed = badge.dataset.status !== generation.status;
            for (const [name, html] of Object.entries(generation.cells)) {
                // Do not reload an image that has not changed.
                if (name !== "thumbnail" || changed) {
                    replaceCell(row, name, html);
                }
            }
            if (changed && generation.finished) {
                row.classList.add("gen-just-finished");
            }
        }
    }

    async function poll() {
        const pending = unfinished();
        if (pending.length === 0) {
            return; // everything on the page has ended: nothing more to watch
        }
        if (!document.hidden) {
            const params = new URLSearchParams();
            pending.forEach((badge) => params.append("id", badge.dataset.generationId));
            try {
                const response = await fetch(url + "?" + params.toString(), {
                    headers: {Accept: "application/json"},
                    credentials: "same-origin",
                });
                if (response.status === 401 || response.status === 403) {
                    return; // logged out or no longer allowed: stop quietly
                }
                if (response.ok) {
                    apply(await response.json());
                    failures = 0;
                } else {
                    failures += 1;
                }
            } catch (error) {
                failures += 1;
            }
        }
        // Back off while the server is unreachable, up to a minute.
        window.setTimeout(poll, Math.min(interval * 2 ** failures, 60000));
    }

    window.setTimeout(poll, interval);
})();
