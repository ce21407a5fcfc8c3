"""The page's style and its one script, inlined: the report opens from a file or a bucket
with no server and no network (no CDN)."""

STYLE = """
:root{--fg:#1a202c;--muted:#4a5568;--line:#e2e8f0;--pass:#2f855a;--fail:#c53030;--warn:#b7791f}
*{box-sizing:border-box}
body{font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
margin:0;background:#f7fafc}
main{max-width:1180px;margin:0 auto;padding:1.5em 1.5em 4em}
header h1{font-size:1.6em;margin:.2em 0}
.pipeline{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;background:#edf2f7;
padding:.5em .8em;border-radius:6px;overflow-x:auto;white-space:nowrap}
.meta{color:var(--muted);margin:.3em 0}
.meta span+span:before{content:" · "}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:.4em 1.2em 1em;
margin:1em 0}
h2{font-size:1.15em;margin:.6em 0 .2em}
.how{color:var(--muted);font-size:.92em;margin:.1em 0 .7em;font-style:italic}
table{border-collapse:collapse;margin:.4em 0;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid var(--line);padding:.3em .7em;text-align:left;vertical-align:top}
th{background:#f7fafc;font-weight:600;white-space:nowrap}
th.sort{cursor:pointer;user-select:none}th.sort:after{content:" \\2195";color:#a0aec0}
th.asc:after{content:" \\2191";color:var(--fg)}th.desc:after{content:" \\2193";color:var(--fg)}
td.num,th.num{text-align:right}
.ok{color:var(--pass);font-weight:600}.bad{color:var(--fail);font-weight:600}
.na{color:#a0aec0}
.verdict{padding:.8em 1.1em;border-radius:8px;margin:1em 0;font-size:1.1em;font-weight:700}
.verdict.pass{background:#f0fff4;border:2px solid var(--pass);color:var(--pass)}
.verdict.fail{background:#fff5f5;border:2px solid var(--fail);color:var(--fail)}
.verdict.none{background:#edf2f7;border:2px solid #a0aec0;color:var(--muted)}
.banner{background:#fffaf0;border:2px solid var(--warn);border-radius:8px;padding:.7em 1em;
margin:1em 0;color:#744210}
.cards{display:flex;flex-wrap:wrap;gap:.8em;margin:.6em 0}
.card{border:1px solid var(--line);border-radius:8px;padding:.5em .9em;min-width:150px}
.card b{display:block;font-size:1.45em}.card small{color:var(--muted)}
.charts{display:flex;flex-wrap:wrap;gap:1.2em;align-items:flex-start}
.charts figure{margin:0}.charts figcaption{color:var(--muted);font-size:.9em;max-width:420px}
svg.chart{display:block;background:#fff;max-width:100%;height:auto}
.cm td{text-align:right;min-width:3.2em}.cm td small{display:block;color:inherit;opacity:.8}
pre{background:#f7fafc;border:1px solid var(--line);padding:.6em;overflow:auto;
white-space:pre-wrap;word-break:break-word;margin:.2em 0;font-size:12px}
details summary{cursor:pointer;color:var(--muted)}
.bar{display:inline-block;height:.7em;background:#90cdf4;vertical-align:middle;margin-left:.4em}
"""

# Click a column header to sort its table (numbers by data-v, text otherwise).
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function(table){
  table.querySelectorAll("th").forEach(function(th, col){
    th.classList.add("sort");
    th.addEventListener("click", function(){
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = !th.classList.contains("asc");
      table.querySelectorAll("th").forEach(function(h){h.classList.remove("asc","desc");});
      th.classList.add(asc ? "asc" : "desc");
      function key(row){
        var cell = row.cells[col], v = cell.getAttribute("data-v");
        return v !== null ? parseFloat(v) : cell.textContent.trim().toLowerCase();
      }
      rows.sort(function(a, b){
        var x = key(a), y = key(b);
        if (typeof x === "number" && isNaN(x)) return 1;
        if (typeof y === "number" && isNaN(y)) return -1;
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
});
"""
