// MathJax 2 settings of the docs site: jupyter-server-mathjax ships the STIX-Web fonts only (no image fonts).
MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], webFont: "STIX-Web", imageFont: null}});
MathJax.Ajax.loadComplete("[MathJax]/config/local/bkd.js");
