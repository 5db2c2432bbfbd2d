"use strict";
// The generate page: one click on "Generate" sends one request (a double click would
// queue, and pay for, the whole batch twice).
(function () {
    const form = document.getElementById("generate_form");
    if (!form) {
        return;
    }
    let sent = false;
    form.addEventListener("submit", function (event) {
        if (sent) {
            event.preventDefault();
            return;
        }
        sent = true;
        if (event.submitter) {
            event.submitter.setAttribute("aria-busy", "true");
        }
    });
    // A changed field makes the priced preview stale: say so on the Generate button.
    const generate = form.querySelector('input[name="_generate"]');
    const stale = function () {
        if (generate && form.querySelector('input[name="previewed"]')) {
            generate.value = "Generate (preview changed: check the cost)";
        }
    };
    form.addEventListener("change", stale);
    form.addEventListener("input", stale);
})();
