// The dashboard's plotly.js: the core and the five trace types deployready's figures
// draw. Keep this list equal to dashboard/ui.py BUNDLE_TRACES (a test compares them);
// scatter is part of the core.
'use strict';
var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/bar'),
    require('plotly.js/lib/box'),
    require('plotly.js/lib/heatmap'),
    require('plotly.js/lib/indicator'),
]);

module.exports = Plotly;
