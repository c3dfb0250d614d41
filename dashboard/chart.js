// One plotly figure on a dashboard page, drawn by the dashboard's own plotly.js build. The
// figure arrives as JSON in data.figure. deployreadyLibrary (dashboard/chart_library.js)
// and fitMargins (dashboard/chart_margins.js) are defined before this file in the same
// module.
const CONFIG = { responsive: true, displaylogo: false };

function host(parent) {
  let node = parent.querySelector(":scope > .deployready-chart");
  if (!node) {
    node = document.createElement("div");
    node.className = "deployready-chart";
    node.setAttribute("data-testid", "deployreadyChart");
    parent.appendChild(node);
  }
  return node;
}

function fail(node, message) {
  node.textContent = `Chart not drawn: ${message}`;
  node.setAttribute("role", "alert");
  node.classList.add("deployready-chart-error");
}

export default function (component) {
  const node = host(component.parentElement);
  let figure;
  try {
    figure = JSON.parse(component.data.figure);
  } catch (err) {
    fail(node, `the figure is not valid JSON (${err.message})`);
    return undefined;
  }
  // keep the figure's height while the library loads, so the page does not jump
  node.style.minHeight = `${(figure.layout && figure.layout.height) || 450}px`;
  deployreadyLibrary()
    .then((Plotly) => {
      if (node.classList.contains("deployready-chart-error")) {
        // an earlier load failed here and a later one succeeded: clear the message
        node.textContent = "";
        node.removeAttribute("role");
        node.classList.remove("deployready-chart-error");
      }
      const layout = figure.layout || {};
      // room for the axis labels from the start, so plotly.js draws the figure once
      const margin = fitMargins(figure, layout.width || node.clientWidth);
      if (margin) {
        // what the figure asked for, kept beside the margins it is drawn with
        node.dataset.figureMargin = JSON.stringify(layout.margin || {});
        layout.margin = { ...(layout.margin || {}), ...margin };
      }
      return Plotly.react(node, figure.data || [], layout, CONFIG);
    })
    .catch((err) => fail(node, err.message));
  return () => {
    if (window.Plotly && typeof window.Plotly.purge === "function") window.Plotly.purge(node);
  };
}
