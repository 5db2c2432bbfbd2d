"use strict";
// The gallery's few behaviours: hover previews, live status badges, copying the
// settings, a drag-and-drop zone for uploads, and asking before a form with
// data-confirm is sent. Everything works without it, too. The Content-Security-Policy
// allows no inline script or on*="" handler: behaviour lives in these static files.
(function () {
    // A form with data-confirm="question" is sent only if the person says yes.
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
        form.addEventListener("submit", function (event) {
            if (!window.confirm(form.dataset.confirm)) event.preventDefault();
        });
    });

    // Hover (or keyboard focus) plays a muted preview; the video loads only then.
    function startPreview(card) {
        const video = card.querySelector("video.preview");
        if (!video) return;
        if (!video.getAttribute("src")) video.src = video.dataset.src;
        video.classList.add("playing");
        video.play().catch(function () {});
    }
    function stopPreview(card) {
        const video = card.querySelector("video.preview");
        if (!video) return;
        video.pause();
        video.classList.remove("playing");
    }
    document.querySelectorAll(".card-media").forEach(function (media) {
        media.addEventListener("mouseenter", function () { startPreview(media); });
        media.addEventListener("mouseleave", function () { stopPreview(media); });
        media.addEventListener("focus", function () { startPreview(media); });
        media.addEventListener("blur", function () { stopPreview(media); });
    });

    // Live status: while any badge on the page is unfinished, ask every few seconds.
    const feed = document.querySelector("[data-status-url]");
    const statusUrl = feed ? feed.dataset.statusUrl : "/generations/status.json";
    const INTERVAL = 4000;
    function unfinished() {
        return Array.from(document.querySelectorAll('[data-status-code][data-finished="false"]'));
    }
    function apply(item) {
        document.querySelectorAll('[data-status-code="' + item.code + '"]').forEach(function (badge) {
            const label = item.label + (item.status === "in_queue" && item.queue_position !== null ? " · #" + item.queue_position : "");
            badge.textContent = label;
            badge.className = "badge status-" + item.status;
            badge.dataset.finished = item.finished ? "true" : "false";
            const card = badge.closest(".card");
            if (card && item.poster) {
                const placeholder = card.querySelector(".placeholder");
                if (placeholder) {
                    const img = document.createElement("img");
                    img.src = item.poster;
                    img.alt = "";
                    placeholder.replaceWith(img);
                }
            }
        });
    }
    async function poll() {
        const pending = unfinished();
        if (pending.length === 0) return;
        if (!document.hidden) {
            const codes = Array.from(new Set(pending.map(function (b) { return b.dataset.statusCode; })));
            try {
                const response = await fetch(statusUrl + "?ids=" + codes.join(","), {headers: {Accept: "application/json"}});
                if (response.ok) (await response.json()).generations.forEach(apply);
            } catch (error) { /* a blip: try again next time */ }
        }
        setTimeout(poll, INTERVAL);
    }
    if (unfinished().length) setTimeout(poll, INTERVAL);

    // "Copy the settings": the inputs as pretty JSON on the clipboard.
    document.querySelectorAll("[data-copy-json]").forEach(function (button) {
        button.addEventListener("click", async function () {
            const source = document.getElementById(button.dataset.copyJson);
            const text = JSON.stringify(JSON.parse(source.textContent), null, 2);
            const original = button.textContent;
            try {
                await navigator.clipboard.writeText(text);
                button.textContent = "Copied";
            } catch (error) {
                window.prompt("Copy the settings:", text);
            }
            setTimeout(function () { button.textContent = original; }, 1500);
        });
    });

    // Drag and drop: dropped files fill the file input, and the form is sent.
    document.querySelectorAll("form[data-dropzone]").forEach(function (form) {
        const zone = form.querySelector(".dropzone");
        const input = form.querySelector('input[type="file"]');
        ["dragenter", "dragover"].forEach(function (name) {
            zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("over"); });
        });
        ["dragleave", "drop"].forEach(function (name) {
            zone.addEventListener(name, function () { zone.classList.remove("over"); });
        });
        zone.addEventListener("drop", function (event) {
            event.preventDefault();
            if (!event.dataTransfer.files.length) return;
            input.files = event.dataTransfer.files;
            form.submit();
        });
    });
})();
