/* Progress bars for long work (templates/_progress.html, connect/core/progress.py).
   Each .progress-box polls its JSON endpoint about once a second and updates the bar in place
   until the work is done or failed, then shows the result link or the reason. No framework. */
(function () {
  "use strict";
  var POLL_MS = 1000;
  var MAX_MISSES = 5;
  var numbers = new Intl.NumberFormat(document.documentElement.lang || undefined);

  function text(box, name) {
    return box.getAttribute("data-text-" + name) || "";
  }

  function render(box, data) {
    var bar = box.querySelector("progress");
    var status = box.querySelector(".progress-status");
    var result = box.querySelector(".progress-result");
    box.setAttribute("data-state", data.state);
    if (data.state === "done") {
      bar.max = data.total > 0 ? data.total : 1;
      bar.value = bar.max;
    } else if (data.percent === null || data.percent === undefined) {
      bar.removeAttribute("value"); // indeterminate
    } else {
      bar.max = data.total;
      bar.value = data.done;
    }
    var line;
    if (data.state === "queued") {
      line = text(box, "queued");
    } else if (data.state === "running") {
      line = data.percent === null ? text(box, "working") : text(box, "running")
        .replace("{done}", numbers.format(data.done))
        .replace("{total}", numbers.format(data.total))
        .replace("{percent}", numbers.format(data.percent));
    } else if (data.state === "done") {
      line = text(box, "done") + (data.message ? " " + data.message : "");
    } else {
      line = text(box, "failed") + " " + (data.message || "");
    }
    if (status.textContent !== line) {
      status.textContent = line; // role=status: read out only when it changes
    }
    if (data.state === "done" || data.state === "failed") {
      result.textContent = "";
      if (data.state === "done" && data.result_url) {
        var link = document.createElement("a");
        link.href = data.result_url;
        link.textContent = text(box, "result");
        result.appendChild(link);
      }
    }
  }

  function watch(box) {
    var url = box.getAttribute("data-progress-url");
    var misses = 0;
    function finished(data) {
      if (box.hasAttribute("data-reload")) {
        window.location.reload(); // the page itself shows the outcome (or the reason)
      }
    }
    function poll() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (data) {
          misses = 0;
          render(box, data);
          if (data.state === "done" || data.state === "failed") {
            finished(data);
          } else {
            window.setTimeout(poll, POLL_MS);
          }
        })
        .catch(function () {
          misses += 1;
          if (misses >= MAX_MISSES) {
            box.querySelector(".progress-status").textContent = text(box, "lost");
          } else {
            window.setTimeout(poll, POLL_MS * (misses + 1));
          }
        });
    }
    window.setTimeout(poll, POLL_MS);
  }

  function start() {
    var boxes = document.querySelectorAll(".progress-box[data-progress-url]");
    for (var i = 0; i < boxes.length; i += 1) {
      var state = boxes[i].getAttribute("data-state");
      if (state !== "done" && state !== "failed") {
        watch(boxes[i]);
      }
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
