"use strict";
// The compare page's synchronised players: one play/pause button, one scrubber and the
// space bar drive every <video>. The longest video is the clock; the others follow it and
// are re-seeked when they drift more than DRIFT seconds. A shorter video holds its last
// frame once the clock passes its end. Nothing starts before every video can play.
(function () {
    const controls = document.querySelector("[data-compare-controls]");
    if (!controls) return;
    const button = controls.querySelector("[data-compare-play]");
    const scrub = controls.querySelector("[data-compare-scrub]");
    const readout = controls.querySelector("[data-compare-time]");
    const all = Array.from(document.querySelectorAll("video[data-compare-video]"));
    const DRIFT = 0.12;
    const END = 0.05;

    let videos = [];
    let clock = null;
    let total = 0;
    let position = 0;
    let playing = false;
    let frame = null;
    let resumeAfterScrub = false;

    if (!all.length) {
        button.textContent = "No videos to play";
        return;
    }

    function durationOf(video) {
        return Number.isFinite(video.duration) ? video.duration : 0;
    }
    function once(video, names) {
        return new Promise(function (resolve) {
            names.forEach(function (name) { video.addEventListener(name, resolve, {once: true}); });
        });
    }
    function metadataReady(video) {
        return video.readyState >= 1 || video.error ? Promise.resolve() : once(video, ["loadedmetadata", "error"]);
    }
    function canPlay(video) {
        return video.readyState >= 3 || video.error ? Promise.resolve() : once(video, ["canplay", "error"]);
    }
    function clamped(video, t) {
        return Math.max(0, Math.min(t, durationOf(video)));
    }

    function render() {
        button.textContent = playing ? "Pause" : "Play";
        button.setAttribute("aria-label", playing ? "Pause all" : "Play all");
        if (!scrub.matches(":active")) scrub.value = String(position);
        readout.textContent = position.toFixed(2) + " / " + total.toFixed(2) + " s";
    }

    function seekAll(t) {
        position = Math.max(0, Math.min(t, total));
        videos.forEach(function (video) {
            video.currentTime = clamped(video, position);
        });
        render();
    }

    function stopAll() {
        playing = false;
        cancelAnimationFrame(frame);
        videos.forEach(function (video) { video.pause(); });
    }

    function pause() {
        stopAll();
        seekAll(clock.ended ? total : clock.currentTime);
    }

    async function play() {
        if (playing) return;
        if (position >= total - END) seekAll(0);
        playing = true;
        render();
        await Promise.all(videos.map(canPlay));
        if (!playing) return;
        await Promise.all(videos.filter(function (video) {
            return position < durationOf(video) - END;
        }).map(function (video) {
            video.currentTime = position;
            return video.play().catch(function () {});
        }));
        if (playing) frame = requestAnimationFrame(tick);
    }

    function tick() {
        if (!playing) return;
        position = clock.currentTime;
        const clockStalled = clock.seeking || clock.readyState < 3;
        videos.forEach(function (video) {
            if (video === clock) return;
            if (position >= durationOf(video) - END || clockStalled) {
                if (!video.paused) video.pause();  // at its end (it holds the last frame), or waiting for the clock
                return;
            }
            if (video.seeking) return;
            if (Math.abs(video.currentTime - position) > DRIFT) video.currentTime = position;
            if (video.paused) video.play().catch(function () {});
        });
        if (clock.ended || position >= total) {
            stopAll();
            position = total;
            render();
            return;
        }
        render();
        frame = requestAnimationFrame(tick);
    }

    function toggle() {
        if (button.disabled) return;
        if (playing) pause(); else play();
    }

    button.addEventListener("click", toggle);
    scrub.addEventListener("input", function () {
        if (playing) {
            resumeAfterScrub = true;
            stopAll();
        }
        seekAll(parseFloat(scrub.value));
    });
    scrub.addEventListener("change", function () {
        if (resumeAfterScrub) {
            resumeAfterScrub = false;
            play();
        }
    });
    document.addEventListener("keydown", function (event) {
        if (event.key !== " " || event.repeat) return;
        const target = event.target;
        // Form fields, links and other buttons keep their own use of the space bar.
        if (target.closest && target.closest("input:not([type=range]), textarea, select, button, a, [contenteditable]")) return;
        event.preventDefault();
        toggle();
    });

    Promise.all(all.map(metadataReady)).then(function () {
        videos = all.filter(function (video) { return !video.error && durationOf(video) > 0; });
        all.filter(function (video) { return videos.indexOf(video) < 0; }).forEach(function (video) {
            video.insertAdjacentHTML("afterend", '<p class="error-box">This video could not be loaded.</p>');
        });
        if (!videos.length) {
            button.textContent = "No playable videos";
            return;
        }
        clock = videos.reduce(function (a, b) { return durationOf(b) > durationOf(a) ? b : a; });
        total = durationOf(clock);
        videos.forEach(function (video) {
            video.addEventListener("click", toggle);
        });
        if (videos.some(function (video) { return Math.abs(durationOf(video) - total) > 0.1; })) {
            controls.insertAdjacentHTML("beforeend", '<span class="muted">Lengths differ: shorter videos hold their last frame.</span>');
        }
        scrub.max = String(total);
        scrub.disabled = false;
        button.disabled = false;
        controls.dataset.ready = "true";
        render();
    });
})();
