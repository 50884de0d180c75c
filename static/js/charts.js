/* Draws every <canvas data-chart="ID"> from the JSON in <script id="ID" type="application/json">.
 * Uses the vendored Chart.js (static/vendor/chart.js). Each chart has a data table next to it. */
(function () {
  "use strict";

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  var palette = [1, 2, 3, 4, 5, 6, 7].map(function (i) { return cssVar("--chart-" + i, "#888"); });
  var money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 2 });
  var cents = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 4 });

  // Dollars with cents, or with four decimals when every amount on the axis is under a dollar.
  function moneyFormat(values) {
    var top = Math.max.apply(null, values.filter(function (v) { return v !== null; }).concat([0]));
    var format = top < 1 ? cents : money;
    return function (v) { return format.format(v); };
  }
  var count = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

  function common() {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } }
    };
  }

  function usageChart(canvas, data) {
    var options = common();
    options.scales = {
      x: { ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 8 } },
      tokens: { type: "linear", position: "left", beginAtZero: true, title: { display: true, text: "tokens" },
        ticks: { callback: function (v) { return count.format(v); } } },
      cost: { type: "linear", position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
        title: { display: true, text: "USD" }, ticks: { callback: moneyFormat(data.cost) } }
    };
    return new Chart(canvas, {
      data: {
        labels: data.labels,
        datasets: [
          { type: "bar", label: "Tokens", data: data.tokens, yAxisID: "tokens", backgroundColor: palette[0] + "b3" },
          { type: "line", label: "Cost (USD)", data: data.cost, yAxisID: "cost", borderColor: palette[1],
            backgroundColor: palette[1], pointRadius: 2, tension: 0.2 }
        ]
      },
      options: options
    });
  }

  function burnChart(canvas, data) {
    var options = common();
    var format = data.unit === "usd" ? moneyFormat(data.actual.concat(data.forecast, [data.limit]))
      : function (v) { return count.format(v); };
    options.scales = {
      x: { ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 8 } },
      y: { beginAtZero: true, ticks: { callback: format } }
    };
    return new Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          { label: "Spent so far", data: data.actual, borderColor: palette[0], backgroundColor: palette[0],
            pointRadius: 1.5, spanGaps: false },
          { label: "Forecast", data: data.forecast, borderColor: palette[1], backgroundColor: palette[1],
            borderDash: [6, 4], pointRadius: 0, spanGaps: false },
          { label: "Budget", data: data.labels.map(function () { return data.limit; }), borderColor: palette[4],
            backgroundColor: palette[4], pointRadius: 0, borderWidth: 1.5 }
        ]
      },
      options: options
    });
  }

  function mixChart(canvas, data) {
    var options = common();
    options.interaction = { mode: "nearest", intersect: true };
    options.plugins.legend.position = "right";
    return new Chart(canvas, {
      type: "doughnut",
      data: {
        labels: data.labels,
        datasets: [{ label: "Tokens", data: data.tokens,
          backgroundColor: data.labels.map(function (_, i) { return palette[i % palette.length]; }) }]
      },
      options: options
    });
  }

  // A flagged person's tokens and outcome value a day against their team's typical day.
  function peersChart(canvas, data) {
    var options = common();
    options.scales = {
      x: { ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 8 } },
      tokens: { type: "linear", position: "left", beginAtZero: true, title: { display: true, text: "tokens a day" },
        ticks: { callback: function (v) { return count.format(v); } } },
      value: { type: "linear", position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
        title: { display: true, text: "outcome value a day (points)" } }
    };
    return new Chart(canvas, {
      data: {
        labels: data.labels,
        datasets: [
          { type: "bar", label: "This person's tokens", data: data.tokens, yAxisID: "tokens",
            backgroundColor: palette[0] + "b3" },
          { type: "line", label: "Team's typical day (tokens, median)", data: data.peer_tokens, yAxisID: "tokens",
            borderColor: palette[1], backgroundColor: palette[1], pointRadius: 0, tension: 0.2 },
          { type: "line", label: "This person's outcome value", data: data.value, yAxisID: "value",
            borderColor: palette[2], backgroundColor: palette[2], pointRadius: 2, showLine: false },
          { type: "line", label: "Team's typical outcome value (median)", data: data.peer_value, yAxisID: "value",
            borderColor: palette[3], backgroundColor: palette[3], pointRadius: 0, borderDash: [6, 4] }
        ]
      },
      options: options
    });
  }

  var builders = { usage: usageChart, burn: burnChart, mix: mixChart, peers: peersChart };

  function drawAll() {
    if (!window.Chart) { return; }
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.getAttribute("data-chart"));
      if (!source) { return; }
      var data = JSON.parse(source.textContent);
      var build = builders[data.type];
      if (build) {
        build(canvas, data);
        canvas.setAttribute("data-rendered", "true");
      }
    });
  }

  function autoSubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("data-copy"));
        if (target && navigator.clipboard) {
          navigator.clipboard.writeText(target.textContent.trim()).then(function () { button.textContent = "Copied"; });
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(); autoSubmit(); copyButtons(); });
})();
