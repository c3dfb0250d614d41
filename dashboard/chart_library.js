// Loads the dashboard's plotly.js build (static/plotly-deployready.min.js: the core and the
// traces the figures use, about a quarter of the full library Streamlit's own plotly
// element loads) once per page, shared by every chart. The page's first element starts
// the load with this same function (dashboard.ui.setup_page), and every chart element
// waits on it (dashboard/chart.js).
function deployreadyLibrary() {
  const LIBRARY = "app/static/plotly-deployready.min.js";
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
