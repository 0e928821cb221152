// MathJax 2 settings of the docs site: jupyter-server-mathjax ships the STIX-Web fonts only (no image fonts), and
// HTML-CSS's blank test font is a local() one (its default, url('about:blank'), is an error in Chromium's console).
MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], webFont: "STIX-Web", imageFont: null,
                                 styles: {"@font-face": {"font-family": "MathJax_Blank", src: "local('MathJax_Blank')"}}}});
MathJax.Ajax.loadComplete("[MathJax]/config/local/bkd.js");
