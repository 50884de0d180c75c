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

  // Tooltip lines that carry their unit: "Cost: $1.20", "Tokens: 12.3K tokens".
  function tooltip(formatters) {
    return { callbacks: { label: function (item) {
      var format = formatters[item.dataset.unit || "usd"] || String;
      return item.dataset.label + ": " + (item.parsed.y === null ? "—" : format(item.raw));
    } } };
  }
  var exactMoney = function (v) { return v < 1 && v > 0 ? cents.format(v) : money.format(v); };
  var tokensText = function (v) { return count.format(v) + " tokens"; };

  function usageChart(canvas, data) {
    var options = common();
    options.plugins.tooltip = tooltip({ usd: exactMoney, tokens: tokensText });
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
          { type: "bar", label: "Tokens", unit: "tokens", data: data.tokens, yAxisID: "tokens", backgroundColor: palette[0] + "b3" },
          { type: "line", label: "Cost (USD)", unit: "usd", data: data.cost, yAxisID: "cost", borderColor: palette[1],
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
    options.plugins.tooltip = tooltip({ usd: exactMoney, tokens: tokensText });
    return new Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          { label: "Spent so far", unit: data.unit, data: data.actual, borderColor: palette[0], backgroundColor: palette[0],
            pointRadius: 1.5, spanGaps: false },
          { label: "Forecast", unit: data.unit, data: data.forecast, borderColor: palette[1], backgroundColor: palette[1],
            borderDash: [6, 4], pointRadius: 0, spanGaps: false },
          { label: "Budget", unit: data.unit, data: data.labels.map(function () { return data.limit; }), borderColor: palette[4],
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
    var total = data.cost.reduce(function (a, b) { return a + b; }, 0);
    options.plugins.tooltip = { callbacks: { label: function (item) {
      var share = total ? " (" + Math.round(item.raw / total * 100) + "% of cost)" : "";
      return item.label + ": " + exactMoney(item.raw) + share;
    } } };
    return new Chart(canvas, {
      type: "doughnut",
      data: {
        labels: data.labels,
        datasets: [{ label: "Cost (USD)", data: data.cost,
          backgroundColor: data.labels.map(function (_, i) { return palette[i % palette.length]; }) }]
      },
      options: options
    });
  }

  // A flagged person's tokens and outcome value a day against their team's typical day.
  function peersChart(canvas, data) {
    var options = common();
    options.plugins.tooltip = tooltip({ tokens: tokensText, points: function (v) { return count.format(v) + " points"; } });
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
          { type: "bar", label: "This person's tokens", unit: "tokens", data: data.tokens, yAxisID: "tokens",
            backgroundColor: palette[0] + "b3" },
          { type: "line", label: "Team's typical day (tokens, median)", unit: "tokens", data: data.peer_tokens, yAxisID: "tokens",
            borderColor: palette[1], backgroundColor: palette[1], pointRadius: 0, tension: 0.2 },
          { type: "line", label: "This person's outcome value", unit: "points", data: data.value, yAxisID: "value",
            borderColor: palette[2], backgroundColor: palette[2], pointRadius: 2, showLine: false },
          { type: "line", label: "Team's typical outcome value (median)", unit: "points", data: data.peer_value, yAxisID: "value",
            borderColor: palette[3], backgroundColor: palette[3], pointRadius: 0, borderDash: [6, 4] }
        ]
      },
      options: options
    });
  }

  // Cost per day stacked by person, model, purpose or client; buttons beside the chart switch it.
  function stackedChart(canvas, data) {
    var options = common();
    options.plugins.tooltip = tooltip({ usd: exactMoney });
    options.scales = {
      x: { stacked: true, ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 8 } },
      y: { stacked: true, beginAtZero: true, title: { display: true, text: "USD" },
        ticks: { callback: function (v) { return exactMoney(v); } } }
    };
    function datasets(name) {
      return (data.dimensions[name] || []).map(function (series, i) {
        return { type: "bar", label: series.label, unit: "usd", data: series.data,
          backgroundColor: palette[i % palette.length] };
      });
    }
    var first = Object.keys(data.dimensions)[0];
    var chart = new Chart(canvas, { data: { labels: data.labels, datasets: datasets(first) }, options: options });
    document.querySelectorAll("button[data-stack-for='" + canvas.id + "']").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        chart.data.datasets = datasets(button.getAttribute("data-dimension"));
        chart.update();
        document.querySelectorAll("button[data-stack-for='" + canvas.id + "']").forEach(function (other) {
          other.setAttribute("aria-pressed", other === button ? "true" : "false");
        });
      });
    });
    return chart;
  }

  // Share of cost per slice: horizontal bars of percent, the dollars in the tooltip.
  function sharesChart(canvas, data) {
    var options = common();
    options.indexAxis = "y";
    options.plugins.legend.display = false;
    options.interaction = { mode: "nearest", axis: "y", intersect: false };
    options.plugins.tooltip = { callbacks: { label: function (item) {
      return item.raw + "% of cost (" + exactMoney(data.cost[item.dataIndex]) + ")";
    } } };
    options.scales = { x: { beginAtZero: true, max: 100, ticks: { callback: function (v) { return v + "%"; } } },
      y: { ticks: { autoSkip: false, callback: function (v) {
        var label = String(this.getLabelForValue(v));  // long names (e-mails) shortened; the table has them whole
        return label.length > 14 ? label.slice(0, 13) + "…" : label;
      } } } };
    return new Chart(canvas, {
      type: "bar",
      data: { labels: data.labels, datasets: [{ label: "Share of cost", unit: "percent", data: data.share,
        backgroundColor: data.labels.map(function (_, i) { return palette[i % palette.length]; }) }] },
      options: options
    });
  }

  function trendChart(canvas, data) {
    var options = common();
    options.plugins.tooltip = tooltip({ usd: exactMoney });
    options.scales = {
      x: { ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 8 } },
      y: { beginAtZero: true, title: { display: true, text: "USD" }, ticks: { callback: function (v) { return exactMoney(v); } } }
    };
    return new Chart(canvas, {
      type: "line",
      data: { labels: data.labels, datasets: data.series.map(function (series, i) {
        return { label: series.label, unit: "usd", data: series.data, borderColor: palette[i % palette.length],
          backgroundColor: palette[i % palette.length], pointRadius: 1.5, tension: 0.2 };
      }) },
      options: options
    });
  }

  var builders = { usage: usageChart, burn: burnChart, mix: mixChart, stacked: stackedChart, shares: sharesChart,
    trend: trendChart, peers: peersChart };

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

  document.addEventListener("DOMContentLoaded", function () {
    drawAll(); autoSubmit(); copyButtons();
  });
})();
