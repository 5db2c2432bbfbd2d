"use strict";
// The library's behaviours on the gallery: the bulk bar appears once a card is selected,
// counts the selection, selects or clears the page, asks before trashing, and rating
// selects submit on change. Without JavaScript the bar is always shown and works the same.
(function () {
    const form = document.getElementById("bulk-form");
    if (form) {
        const boxes = Array.from(document.querySelectorAll("input[data-select-card]"));
        const count = form.querySelector("[data-bulk-count]");
        const max = parseInt(form.dataset.bulkMax || "100", 10);
        function update() {
            const selected = boxes.filter(function (box) { return box.checked; }).length;
            count.textContent = String(selected);
            form.hidden = selected === 0;
            form.classList.toggle("over-limit", selected > max);
            boxes.forEach(function (box) { box.closest(".card").classList.toggle("selected", box.checked); });
        }
        boxes.forEach(function (box) { box.addEventListener("change", update); });
        form.querySelector("[data-select-all]").addEventListener("click", function () {
            boxes.forEach(function (box) { box.checked = true; });
            update();
        });
        form.querySelector("[data-select-none]").addEventListener("click", function () {
            boxes.forEach(function (box) { box.checked = false; });
            update();
            if (boxes[0]) boxes[0].focus();
        });
        // Enter in the tag or new-collection box runs that action, not the first button.
        form.querySelectorAll("[data-enter-action]").forEach(function (input) {
            input.addEventListener("keydown", function (event) {
                if (event.key !== "Enter") return;
                event.preventDefault();
                form.querySelector('button[name="action"][value="' + input.dataset.enterAction + '"]').click();
            });
        });
        form.addEventListener("submit", function (event) {
            const button = event.submitter;
            if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) event.preventDefault();
            // The page stays: a ZIP downloads, other actions reload it.
        });
        update();
    }

    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
        const button = select.form.querySelector("[data-autosubmit-button]");
        if (button) button.hidden = true;
        select.addEventListener("change", function () { select.form.requestSubmit(); });
    });
})();
