// The measures dashboard (/dashboard): key figures with their targets, the trend, a map of
// grids coloured by the chosen measure (or a day's patrol coverage), bars per grid and per
// unit, the channel mix. Every figure opens the list of cases behind it
// (/api/v1/measures/cases), so each percentage can be checked case by case.
(function () {
  "use strict";

  var C = window.Chengyun;
  var L = window.L;
  var t = C.t;
  var el = C.el;
  var config = C.config;
  var form = document.getElementById("dash-filters");
  var TARGET_COLOUR = "#c62828";
  var charts = {};
  var map = null;
  var gridLayer = null;
  var coverageLayer = null;
  var gridShapes = null;
  var lastGrid = {};
  var names = { grid: {}, unit: {} };
  var behind = { measure: null, scope: null, from: null, to: null, what: "" };

  function measureName(m) {
    return config.measures[m] || m;
  }

  function percent(value) {
    return value === null || value === undefined ? "—" : (value * 100).toFixed(1) + "%";
  }

  function filters() {
    return {
      from: form.elements.from.value,
      to: form.elements.to.value,
      scope: form.elements.scope.value || "all",
      measure: form.elements.measure.value,
    };
  }

  function query(params) {
    return Object.keys(params)
      .filter(function (k) {
        return params[k] !== null && params[k] !== undefined && params[k] !== "";
      })
      .map(function (k) {
        return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]);
      })
      .join("&");
  }

  function measures(params) {
    return C.get("/api/v1/measures?" + query(params));
  }

  function showError(error) {
    var box = document.getElementById("dash-error");
    box.textContent = C.errorText(error);
    box.hidden = false;
  }

  function chart(id) {
    if (!charts[id]) {
      charts[id] = window.echarts.init(document.getElementById(id), null, { renderer: "canvas" });
      window.addEventListener("resize", function () {
        charts[id].resize();
      });
    }
    return charts[id];
  }

  // --- the cases behind a figure ------------------------------------------------------------

  function openBehind(measure, scope, from, to, what) {
    behind = { measure: measure, scope: scope, from: from, to: to, what: what };
    loadBehind("numerator");
  }

  function loadBehind(part) {
    var panel = document.getElementById("behind");
    var list = document.getElementById("behind-list");
    var more = document.getElementById("behind-more");
    panel.hidden = false;
    document.getElementById("behind-what").textContent =
      behind.what + " · " + (part === "numerator" ? t.numerator : t.denominator);
    panel.querySelectorAll("[data-part]").forEach(function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-part") === part ? "true" : "false");
    });
    list.replaceChildren(el("li", { class: "empty", text: t.loading }));
    C.get(
      "/api/v1/measures/cases?" +
        query({
          measure: behind.measure,
          part: part,
          scope: behind.scope,
          from: behind.from,
          to: behind.to,
          limit: 200,
        })
    )
      .then(function (found) {
        var items = found.items.map(function (item) {
          var label = item.number + (item.weight > 1 ? " ×" + item.weight : "");
          if (item.minutes !== undefined && item.minutes !== null) {
            label += " · " + Math.round(item.minutes) + " min";
          }
          return el("li", {}, [
            config.may.cases ? el("a", { href: config.caseUrl + item.id, text: label }) : label,
          ]);
        });
        list.replaceChildren.apply(
          list,
          items.length ? items : [el("li", { class: "empty", text: t.no_data })]
        );
        more.hidden = found.total <= found.items.length;
        more.textContent = t.cases_total + " " + found.total + " (Σ " + found.sum + ")";
        panel.focus();
      })
      .catch(function (error) {
        list.replaceChildren(el("li", { class: "alert", text: C.errorText(error) }));
      });
  }

  document.getElementById("behind").addEventListener("click", function (event) {
    var part = event.target.getAttribute("data-part");
    if (part) {
      loadBehind(part);
    }
  });
  document.getElementById("behind-close").addEventListener("click", function () {
    document.getElementById("behind").hidden = true;
  });

  // --- key figures ---------------------------------------------------------------------------

  function drawTiles(result, f) {
    var tiles = document.getElementById("tiles");
    var items = config.order.map(function (m) {
      var figure = (result.measures || {})[m] || {};
      var target = result.targets[m];
      var missed = target !== undefined && figure.value !== null && figure.value < target;
      var button = el(
        "button",
        {
          type: "button",
          class: "tile" + (target !== undefined ? " tile-target" : "") + (missed ? " tile-missed" : ""),
          "data-measure": m,
          "aria-label": measureName(m) + " " + percent(figure.value) + " — " + t.cases_behind,
        },
        [
          el("span", { class: "tile-name", text: measureName(m) }),
          el("span", { class: "tile-value", text: percent(figure.value) }),
          el("span", {
            class: "tile-ratio",
            text: (figure.numerator || 0) + " / " + (figure.denominator || 0),
          }),
          target !== undefined
            ? el("span", { class: "tile-goal", text: t.target + " " + percent(target) })
            : null,
        ].filter(Boolean)
      );
      button.addEventListener("click", function () {
        openBehind(m, f.scope, f.from, f.to, measureName(m));
      });
      return el("li", {}, [button]);
    });
    tiles.replaceChildren.apply(tiles, items);
  }

  // --- the trend -----------------------------------------------------------------------------

  function drawTrend(result, f) {
    var groups = result.groups || [];
    var keys = groups.map(function (g) {
      return g.key;
    });
    var shown = ["first_discovery_rate", "closure_rate"];
    if (shown.indexOf(f.measure) < 0) {
      shown.push(f.measure);
    }
    var series = shown.map(function (m) {
      var s = {
        name: measureName(m),
        type: "line",
        connectNulls: true,
        data: groups.map(function (g) {
          var v = (g.measures[m] || {}).value;
          return v === null || v === undefined ? null : +(v * 100).toFixed(1);
        }),
      };
      if (result.targets[m] !== undefined) {
        s.markLine = {
          symbol: "none",
          lineStyle: { color: TARGET_COLOUR, type: "dashed" },
          label: { position: "insideEndTop", formatter: t.target + " " + percent(result.targets[m]) },
          data: [{ yAxis: result.targets[m] * 100 }],
        };
      }
      return s;
    });
    var c = chart("trend-chart");
    c.setOption(
      {
        animation: false,
        tooltip: { trigger: "axis", valueFormatter: (v) => (v === null ? "—" : v + "%") },
        legend: { top: 0 },
        grid: { left: 48, right: 24, top: 36, bottom: 32 },
        xAxis: { type: "category", data: keys },
        yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
        series: series,
      },
      true
    );
    c.off("click");
    c.on("click", function (p) {
      var m = shown[p.seriesIndex];
      var key = keys[p.dataIndex];
      var day = result.group_by === "day";
      var from = day ? key : key + "-01";
      var to = day ? key : lastDayOfMonth(key);
      openBehind(m, f.scope, from, to, measureName(m) + " · " + key);
    });
  }

  function lastDayOfMonth(month) {
    var parts = month.split("-");
    var d = new Date(Date.UTC(+parts[0], +parts[1], 0));
    return d.toISOString().slice(0, 10);
  }

  // --- bars per grid and per unit ------------------------------------------------------------

  function drawBars(id, tableId, kind, result, f) {
    var groups = (result.groups || []).filter(function (g) {
      return (g.measures[f.measure] || {}).denominator > 0;
    });
    groups.sort(function (a, b) {
      return (a.measures[f.measure].value || 0) - (b.measures[f.measure].value || 0);
    });
    var labels = groups.map(function (g) {
      names[kind][g.key] = g.label;
      return g.label;
    });
    var c = chart(id);
    var target = result.targets[f.measure];
    c.setOption(
      {
        animation: false,
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        grid: { left: 8, right: 48, top: 8, bottom: 24, containLabel: true },
        xAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
        yAxis: { type: "category", data: labels, axisLabel: { width: 160, overflow: "truncate" } },
        series: [
          {
            name: measureName(f.measure),
            type: "bar",
            barMaxWidth: 28,
            data: groups.map(function (g) {
              var v = g.measures[f.measure].value;
              return {
                value: v === null ? 0 : +(v * 100).toFixed(1),
                itemStyle: {
                  color: target !== undefined && v !== null && v < target ? "#c62828" : "#0b5394",
                },
              };
            }),
            label: { show: true, position: "right", formatter: "{c}%" },
            markLine:
              target === undefined
                ? undefined
                : {
                    symbol: "none",
                    lineStyle: { color: TARGET_COLOUR, type: "dashed" },
                    data: [{ xAxis: target * 100 }],
                  },
          },
        ],
      },
      true
    );
    c.off("click");
    c.on("click", function (p) {
      var g = groups[p.dataIndex];
      openBehind(f.measure, kind + ":" + g.key, f.from, f.to, measureName(f.measure) + " · " + g.label);
    });
    drawTable(tableId, kind, groups, f);
  }

  function drawTable(tableId, kind, groups, f) {
    var rows = groups.map(function (g) {
      var figure = g.measures[f.measure];
      var button = el("button", {
        type: "button",
        class: "quiet",
        text: percent(figure.value) + " (" + figure.numerator + "/" + figure.denominator + ")",
      });
      button.addEventListener("click", function () {
        openBehind(f.measure, kind + ":" + g.key, f.from, f.to, measureName(f.measure) + " · " + g.label);
      });
      return el("tr", {}, [el("th", { scope: "row", text: g.label }), el("td", {}, [button])]);
    });
    var table = el("table", { class: "data-table" }, [
      el("thead", {}, [
        el("tr", {}, [
          el("th", { scope: "col", text: t[kind] || kind }),
          el("th", { scope: "col", text: measureName(f.measure) }),
        ]),
      ]),
      el("tbody", {}, rows.length ? rows : [el("tr", {}, [el("td", { colspan: "2", text: t.no_data })])]),
    ]);
    document.getElementById(tableId).replaceChildren(table);
  }

  // --- the channel mix -----------------------------------------------------------------------

  function drawChannels(result, f) {
    var m = "intelligent_discovery_share"; // its denominator: every case found in the period
    var groups = (result.groups || []).filter(function (g) {
      return (g.measures[m] || {}).denominator > 0;
    });
    var c = chart("channel-chart");
    c.setOption(
      {
        animation: false,
        tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
        legend: { orient: "vertical", left: 0, top: "middle" },
        series: [
          {
            type: "pie",
            radius: ["40%", "70%"],
            center: ["62%", "50%"],
            data: groups.map(function (g) {
              return { name: g.label, value: g.measures[m].denominator };
            }),
          },
        ],
      },
      true
    );
    c.off("click");
    c.on("click", function (p) {
      var g = groups[p.dataIndex];
      openBehind(m, "channel:" + g.key, f.from, f.to, t.channel_mix + " · " + g.label);
    });
    var rows = groups.map(function (g) {
      var button = el("button", { type: "button", class: "quiet", text: String(g.measures[m].denominator) });
      button.addEventListener("click", function () {
        openBehind(m, "channel:" + g.key, f.from, f.to, t.channel_mix + " · " + g.label);
      });
      return el("tr", {}, [el("th", { scope: "row", text: g.label }), el("td", {}, [button])]);
    });
    document.getElementById("channel-table").replaceChildren(
      el("table", { class: "data-table" }, [
        el("tbody", {}, rows.length ? rows : [el("tr", {}, [el("td", { text: t.no_data })])]),
      ])
    );
  }

  // --- the map -------------------------------------------------------------------------------

  function colourFor(value, target) {
    if (value === null || value === undefined) {
      return "#e3e6ea";
    }
    if (target !== undefined) {
      return value >= target ? "#2e7d32" : value >= target - 0.1 ? "#f9a825" : "#c62828";
    }
    return value >= 0.9 ? "#2e7d32" : value >= 0.7 ? "#f9a825" : "#c62828";
  }

  function initMap() {
    map = L.map("dash-map", { zoomSnap: 0.25, keyboard: true });
    map.attributionControl.setPrefix(false);
    if (config.tileUrl) {
      L.tileLayer(config.tileUrl, { maxZoom: 19 }).addTo(map);
    }
    map.setView([31.15, 121.11], 14);
    if (!config.may.territory) {
      return Promise.resolve();
    }
    return C.get("/api/v1/territory/grids").then(function (shapes) {
      gridShapes = shapes;
    });
  }

  function legend(entries) {
    var box = document.getElementById("map-legend");
    box.replaceChildren.apply(
      box,
      entries.map(function (e) {
        var swatch = el("i", { class: "swatch", "aria-hidden": "true" });
        swatch.style.background = e[0]; // CSSOM, not a style attribute: the CSP allows it
        return el("span", {}, [swatch, e[1]]);
      })
    );
  }

  function drawMeasureMap(f, target) {
    if (coverageLayer) {
      map.removeLayer(coverageLayer);
      coverageLayer = null;
    }
    if (!gridShapes) {
      return;
    }
    if (gridLayer) {
      map.removeLayer(gridLayer);
    }
    gridLayer = L.geoJSON(gridShapes, {
      style: function (feature) {
        var figure = lastGrid[feature.properties.code];
        return {
          color: "#0f2a44",
          weight: 2,
          fillColor: colourFor(figure ? figure.value : null, target),
          fillOpacity: 0.6,
        };
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        var name = config.lang === "en" ? p.name_en || p.name : p.name;
        var figure = lastGrid[p.code];
        layer.bindTooltip(name + " · " + percent(figure ? figure.value : null), {
          permanent: true,
          direction: "center",
          className: "grid-label",
        });
        layer.on("click", function () {
          openBehind(f.measure, "grid:" + p.code, f.from, f.to, measureName(f.measure) + " · " + name);
        });
      },
    }).addTo(map);
    if (gridLayer.getLayers().length) {
      map.fitBounds(gridLayer.getBounds(), { padding: [12, 12] });
    }
    var goal = target !== undefined ? target : 0.9;
    legend([
      ["#2e7d32", "≥ " + percent(goal)],
      ["#f9a825", percent(Math.max(goal - 0.1, 0)) + " – " + percent(goal)],
      ["#c62828", "< " + percent(Math.max(goal - 0.1, 0))],
      ["#e3e6ea", t.no_data],
    ]);
  }

  function drawCoverage() {
    var day = document.getElementById("d-day").value;
    C.get("/api/v1/patrol/coverage.geojson?" + query({ date: day }))
      .then(function (found) {
        if (gridLayer) {
          map.removeLayer(gridLayer);
          gridLayer = null;
        }
        if (coverageLayer) {
          map.removeLayer(coverageLayer);
        }
        coverageLayer = L.geoJSON(found, {
          style: function (feature) {
            var p = feature.properties;
            if (feature.geometry.type === "LineString") {
              return { color: "#6a1b9a", weight: 2 };
            }
            return {
              color: "#5b6675",
              weight: 1,
              fillColor: p.visited ? "#2e7d32" : "#c62828",
              fillOpacity: p.visited ? 0.45 : 0.35,
            };
          },
          onEachFeature: function (feature, layer) {
            var p = feature.properties;
            if (feature.geometry.type !== "LineString") {
              var name = config.lang === "en" ? p.name_en || p.name : p.name;
              layer.bindTooltip(
                name + " · " + (p.visited ? t.visited + " " + p.minutes + " min, " + p.people + " " + t.people_count : t.not_visited),
                { sticky: true }
              );
            }
          },
        }).addTo(map);
        legend([
          ["#2e7d32", t.visited],
          ["#c62828", t.not_visited],
          ["#6a1b9a", t.patrol_track],
        ]);
      })
      .catch(showError);
  }

  function redrawMap(f, target) {
    var layer = document.getElementById("d-layer").value;
    if (layer === "coverage") {
      drawCoverage();
    } else {
      drawMeasureMap(f, target);
    }
  }

  // --- loading -------------------------------------------------------------------------------

  function months(from, to) {
    return Date.parse(to) - Date.parse(from) > 62 * 86400000;
  }

  function load() {
    var f = filters();
    var status = document.getElementById("dash-status");
    document.getElementById("dash-error").hidden = true;
    status.textContent = t.loading;
    var base = { from: f.from, to: f.to, scope: f.scope };
    var trendBase = { from: f.from, to: f.to, scope: f.scope, group_by: months(f.from, f.to) ? "month" : "day" };
    return Promise.all([
      measures(base),
      measures(trendBase),
      measures({ from: f.from, to: f.to, scope: f.scope, group_by: "grid" }),
      measures({ from: f.from, to: f.to, scope: f.scope, group_by: "unit" }),
      measures({ from: f.from, to: f.to, scope: f.scope, group_by: "channel" }),
    ])
      .then(function (found) {
        drawTiles(found[0], f);
        drawTrend(found[1], f);
        lastGrid = {};
        (found[2].groups || []).forEach(function (g) {
          lastGrid[g.key] = g.measures[f.measure];
        });
        drawBars("grid-chart", "grid-table", "grid", found[2], f);
        drawBars("unit-chart", "unit-table", "unit", found[3], f);
        drawChannels(found[4], f);
        redrawMap(f, found[0].targets[f.measure]);
        status.textContent = t.updated + " " + C.dateTime(new Date(C.now()).toISOString());
      })
      .catch(function (error) {
        status.textContent = "";
        showError(error);
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    load();
  });
  document.getElementById("d-measure").addEventListener("change", load);
  document.getElementById("d-layer").addEventListener("change", function () {
    redrawMap(filters(), config.targets[filters().measure]);
  });
  var dayInput = document.getElementById("d-day");
  if (dayInput) {
    dayInput.addEventListener("change", function () {
      document.getElementById("d-layer").value = "coverage";
      drawCoverage();
    });
  }

  initMap()
    .then(load)
    .catch(showError);
})();
