// Draw the figures of the page: each <script type="application/json" class="plot-data"> holds a
// Plotly figure (data + layout) for the element named by its data-target.
(function () {
  "use strict";
  var blocks = document.querySelectorAll('script.plot-data[type="application/json"]');
  for (var i = 0; i < blocks.length; i++) {
    var el = blocks[i];
    var fig = JSON.parse(el.textContent);
    var target = document.getElementById(el.getAttribute("data-target"));
    if (target && window.Plotly) {
      window.Plotly.newPlot(target, fig.data, fig.layout, {responsive: true, displaylogo: false});
    }
  }
  document.body.setAttribute("data-charts-drawn", String(blocks.length));
})();
