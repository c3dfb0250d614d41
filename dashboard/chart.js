// One plotly figure on a dashboard page, drawn by the dashboard's own plotly.js build
// (static/plotly-deployready.min.js: the core and the traces the figures use, about a
// quarter of the full library Streamlit's own plotly element loads). The figure arrives
// as JSON in data.figure; the library is loaded once per page and shared by every chart.
const LIBRARY = "app/static/plotly-deployready.min.js";
const CONFIG = { responsive: true, displaylogo: false };

function library() {
  if (window.Plotly && typeof window.Plotly.react === "function") {
    return Promise.resolve(window.Plotly);
  }
  if (!window.__deployreadyPlotly) {
    window.__deployreadyPlotly = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = new URL(LIBRARY, document.baseURI).href;
      script.async = true;
      const refuse = () => {
        window.__deployreadyPlotly = undefined;
        reject(new Error(`${LIBRARY} could not be loaded (is server.enableStaticServing on?)`));
      };
      // a server without static serving answers with its HTML page, which loads but
      // defines nothing: only a library that defines Plotly.react counts as loaded
      script.onload = () => {
        if (window.Plotly && typeof window.Plotly.react === "function") resolve(window.Plotly);
        else refuse();
      };
      script.onerror = refuse;
      document.head.appendChild(script);
    });
  }
  return window.__deployreadyPlotly;
}

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
  if (component.data && component.data.preload) {
    library().catch(() => undefined); // a chart that needs it reports the failure
    return undefined;
  }
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
  library()
    .then((Plotly) => {
      if (node.classList.contains("deployready-chart-error")) {
        // an earlier load failed here and a later one succeeded: clear the message
        node.textContent = "";
        node.removeAttribute("role");
        node.classList.remove("deployready-chart-error");
      }
      return Plotly.react(node, figure.data || [], figure.layout || {}, CONFIG);
    })
    .catch((err) => fail(node, err.message));
  return () => {
    if (window.Plotly && typeof window.Plotly.purge === "function") window.Plotly.purge(node);
  };
}
