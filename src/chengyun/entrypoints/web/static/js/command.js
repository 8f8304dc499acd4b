// The command centre (/command): the territory and open cases on the map, the queues
// by nearest deadline, the situation counts and chart, and who is on duty.
// Reads /api/v1 with the session cookie; refreshes on server-sent events, and every 30 s.
(function () {
  "use strict";

  var C = window.Chengyun;
  var L = window.L;
  var t = C.t;
  var l = C.l;
  var el = C.el;
  var config = C.config;
  var REFRESH_MS = 30000;
  var DUTY_REFRESH_MS = 60000;
  var LIMIT = 500;
  var COLOURS = { red: "#c62828", yellow: "#f9a825", green: "#2e7d32" };

  var map = null;
  var caseLayer = null;
  var markers = {};
  var gridNames = {};
  var gridOrder = [];
  var chart = null;
  var loading = null;
  var filters = document.getElementById("filters");

  function gridName(code, fallback) {
    return gridNames[code] || fallback || code || "—";
  }

  function subclassName(item) {
    return config.lang === "en" ? item.subclass.name_en : item.subclass.name_zh;
  }

  // --- the map ----------------------------------------------------------------------------

  function initMap() {
    map = L.map("map", { zoomSnap: 0.25, zoomControl: true, keyboard: true });
    map.attributionControl.setPrefix(false);
    if (config.tileUrl) {
      L.tileLayer(config.tileUrl, { maxZoom: 19 }).addTo(map);
    }
    map.setView([31.15, 121.11], 14);
    caseLayer = L.layerGroup().addTo(map);
  }

  // Today in Shanghai as YYYY-MM-DD (compared with the grids' go-live dates).
  function today() {
    return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date(C.now()));
  }

  function drawTerritory() {
    if (!config.may.territory) {
      return Promise.resolve();
    }
    return Promise.all([
      C.get("/api/v1/territory/grids"),
      C.get("/api/v1/territory/units"),
      C.get("/api/v1/territory/areas"),
    ]).then(function (found) {
      var day = today();
      var grids = L.geoJSON(found[0], {
        style: function (feature) {
          var live = feature.properties.live_from <= day;
          return {
            color: live ? "#0b5394" : "#6b7785",
            weight: 3,
            dashArray: live ? null : "8 6",
            fillColor: live ? "#dbe7f3" : "#e3e6ea",
            fillOpacity: live ? 0.55 : 0.7,
          };
        },
        onEachFeature: function (feature, layer) {
          var p = feature.properties;
          var name = config.lang === "en" ? p.name_en || p.name : p.name;
          gridNames[p.code] = name;
          gridOrder.push(p.code);
          var live = p.live_from <= day;
          layer.bindTooltip(live ? name : name + "\n" + t.not_live + " " + p.live_from, {
            permanent: true,
            direction: "center",
            className: "grid-label" + (live ? "" : " not-live"),
          });
        },
      });
      var units = L.geoJSON(found[1], {
        style: function (feature) {
          return {
            color: "#5b6675",
            weight: 1,
            fillColor: feature.properties.key ? "#b7cde3" : "#ffffff",
            fillOpacity: feature.properties.key ? 0.35 : 0.15,
          };
        },
        onEachFeature: function (feature, layer) {
          var p = feature.properties;
          var name = config.lang === "en" ? p.name_en || p.name : p.name;
          layer.bindTooltip(name + (p.key ? " · " + t.key_unit : ""), {
            sticky: true,
            className: "unit-label",
          });
        },
      });
      var areaStyle = function (kind) {
        return kind === "waterway"
          ? { color: "#1e6fb8", weight: 1, fillColor: "#6fa8dc", fillOpacity: 0.6 }
          : { color: "#b85c00", weight: 1, fillColor: "#f6b26b", fillOpacity: 0.45 };
      };
      var layerOf = function (kind) {
        return L.geoJSON(found[2], {
          filter: function (f) {
            return f.properties.kind === kind;
          },
          style: function () {
            return areaStyle(kind);
          },
          onEachFeature: function (feature, layer) {
            var p = feature.properties;
            layer.bindTooltip(config.lang === "en" ? p.name_en || p.name : p.name, {
              sticky: true,
            });
          },
        });
      };
      var streets = layerOf("street");
      var waterway = layerOf("waterway");
      grids.addTo(map);
      units.addTo(map);
      streets.addTo(map);
      waterway.addTo(map);
      var bounds = grids.getBounds();
      if (bounds.isValid()) {
        map.fitBounds(bounds, { padding: [16, 16] });
      }
      var overlays = {};
      overlays[t.layer_grids] = grids;
      overlays[t.layer_units] = units;
      overlays[t.layer_streets] = streets;
      overlays[t.layer_waterway] = waterway;
      overlays[t.layer_cases] = caseLayer;
      L.control.layers(null, overlays, { collapsed: true, position: "topright" }).addTo(map);
      caseLayer.remove();
      caseLayer.addTo(map); // the cases stay on top of the polygons
    });
  }

  function popupFor(item) {
    var next = C.nearestDeadline(item);
    var who = item.assignee
      ? item.assignee.name + " " + item.assignee.number
      : t.unassigned;
    var description = item.description || "";
    if (description.length > 140) {
      description = description.slice(0, 140) + "…";
    }
    return el("div", { class: "popup" }, [
      el("p", { class: "popup-head" }, [
        el("strong", { class: "case-number", text: item.number }),
        el("span", { class: "tag light light-" + item.light }, [
          el("i", { class: "light-dot", "aria-hidden": "true" }),
          l.light[item.light],
        ]),
        item.urgency === "urgent" ? el("span", { class: "tag urgency-urgent", text: t.urgent }) : null,
      ]),
      el("p", { text: subclassName(item) + " · " + gridName(item.grid && item.grid.code, item.grid && item.grid.name) }),
      el("p", { text: l.status[item.status] + " · " + t.assignee + t.colon + who }),
      next
        ? el("p", {}, [
            l.stage[next.stage] + " " + t.due + " " + C.dateTime(next.due) + " · ",
            el("time", { class: "countdown", "data-due": next.due, datetime: next.due }),
          ])
        : null,
      description ? el("p", { class: "popup-text", text: description }) : null,
      el("a", { class: "popup-link", href: config.caseUrl + item.id, text: t.open_case + " →" }),
    ]);
  }

  function drawMarkers(items) {
    caseLayer.clearLayers();
    markers = {};
    items.forEach(function (item) {
      if (!item.position) {
        return;
      }
      var urgent = item.urgency === "urgent";
      var rank = { red: 300, yellow: 200, green: 100 }[item.light] || 0;
      var marker = L.marker([item.position.lat, item.position.lng], {
        icon: C.caseIcon(item),
        keyboard: true,
        title: C.caseLabel(item),
        riseOnHover: true,
        zIndexOffset: rank + (urgent ? 1000 : 0),
      });
      marker.bindPopup(function () {
        return popupFor(item);
      }, { maxWidth: 320, minWidth: 220 });
      marker.on("popupopen", C.tick);
      marker.addTo(caseLayer);
      var icon = marker.getElement();
      if (icon) {
        icon.setAttribute("aria-label", C.caseLabel(item));
        icon.setAttribute("data-case", item.number);
      }
      markers[item.id] = marker;
    });
  }

  function showOnMap(id) {
    var marker = markers[id];
    if (!marker) {
      return;
    }
    map.setView(marker.getLatLng(), Math.max(map.getZoom(), 16));
    marker.openPopup();
    var icon = marker.getElement();
    if (icon) {
      icon.focus();
    }
  }

  // --- the queues -------------------------------------------------------------------------

  function caseRow(item) {
    var next = C.nearestDeadline(item);
    var urgent = item.urgency === "urgent";
    var who = item.assignee ? item.assignee.name + " " + item.assignee.number : t.unassigned;
    return el("li", {
      class: "case-row light-" + item.light + (urgent ? " urgent" : ""),
      "data-case": item.number,
    }, [
      el("span", { class: "light-dot", role: "img", "aria-label": l.light[item.light] }),
      el("div", { class: "case-main" }, [
        el("p", { class: "case-line" }, [
          el("a", { class: "case-number", href: config.caseUrl + item.id, text: item.number }),
          urgent ? el("span", { class: "tag urgency-urgent", text: t.urgent }) : null,
          el("span", { class: "tag status", text: l.status[item.status] }),
        ]),
        el("p", { class: "case-what", text: subclassName(item) + " · " + gridName(item.grid && item.grid.code, item.grid && item.grid.name) }),
        el("p", { class: "case-who" + (item.assignee ? "" : " text-alert"), text: t.assignee + t.colon + who }),
      ]),
      el("div", { class: "case-clock" }, next ? [
        el("span", { class: "case-stage", text: l.stage[next.stage] }),
        el("time", { class: "countdown", "data-due": next.due, datetime: next.due }),
      ] : [el("span", { class: "case-stage", text: "—" })]),
      el("button", {
        type: "button",
        class: "locate quiet",
        "data-id": String(item.id),
        "aria-label": t.show_on_map + " " + item.number,
        title: t.show_on_map,
        disabled: item.position ? null : true,
      }, [t.locate]),
    ]);
  }

  function fillList(list, items, emptyText) {
    var rows = items.map(caseRow);
    if (!rows.length) {
      rows = [el("li", { class: "empty", text: emptyText })];
    }
    list.replaceChildren.apply(list, rows);
  }

  function setCount(name, value) {
    var node = document.querySelector('[data-count="' + name + '"]');
    if (node) {
      node.textContent = value === null ? "–" : String(value);
    }
  }

  // --- the situation chart ----------------------------------------------------------------

  function drawChart(items) {
    var holder = document.getElementById("by-grid-chart");
    if (!window.echarts || !holder) {
      return;
    }
    if (!chart) {
      chart = window.echarts.init(holder, null, { renderer: "canvas" });
    }
    var codes = gridOrder.slice();
    items.forEach(function (item) {
      var code = item.grid ? item.grid.code : "";
      if (codes.indexOf(code) < 0) {
        codes.push(code);
      }
    });
    var counts = { red: {}, yellow: {}, green: {} };
    items.forEach(function (item) {
      var code = item.grid ? item.grid.code : "";
      counts[item.light][code] = (counts[item.light][code] || 0) + 1;
    });
    var names = codes.map(function (code) {
      return code ? gridName(code) : t.no_position;
    });
    chart.setOption({
      animation: false,
      textStyle: { fontFamily: "Noto Sans CJK SC, Noto Sans SC, sans-serif" },
      grid: { left: 4, right: 16, top: 6, bottom: 0, containLabel: true },
      legend: { show: false }, // the counts beside the chart carry the colours' names
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "value", minInterval: 1, axisLabel: { color: "#5b6675" } },
      yAxis: {
        type: "category", inverse: true, data: names,
        axisLabel: { color: "#1b2430", interval: 0, fontSize: 11 },
      },
      series: ["red", "yellow", "green"].map(function (light) {
        return {
          name: l.light[light],
          type: "bar",
          stack: "cases",
          barMaxWidth: 16,
          itemStyle: { color: COLOURS[light] },
          data: codes.map(function (code) {
            return counts[light][code] || 0;
          }),
        };
      }),
    }, true);
  }

  // --- loading ----------------------------------------------------------------------------

  function query(extra) {
    var params = new URLSearchParams();
    var data = new FormData(filters);
    var status = data.get("status");
    if (!status) {
      params.set("open", "true");
    }
    ["grid", "channel", "subclass", "status"].forEach(function (name) {
      var value = data.get(name);
      if (value) {
        params.set(name, value);
      }
    });
    Object.keys(extra || {}).forEach(function (name) {
      params.set(name, extra[name]);
    });
    return "/api/v1/cases?" + params.toString();
  }

  function remember() {
    var params = new URLSearchParams();
    var data = new FormData(filters);
    ["grid", "channel", "subclass", "status"].forEach(function (name) {
      if (data.get(name)) {
        params.set(name, data.get(name));
      }
    });
    var search = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (search ? "?" + search : ""));
  }

  function restore() {
    var params = new URLSearchParams(window.location.search);
    ["grid", "channel", "subclass", "status"].forEach(function (name) {
      var field = filters.elements[name];
      if (field && params.get(name)) {
        field.value = params.get(name);
      }
    });
  }

  function loadCases() {
    if (loading) {
      return loading;
    }
    var problem = document.getElementById("queue-error");
    loading = Promise.all([
      C.get(query({ limit: LIMIT })),
      C.get(query({ unassigned: "true", limit: 100 })),
      C.get(query({ light: "red", limit: 1 })),
      C.get(query({ light: "yellow", limit: 1 })),
      C.get(query({ urgency: "urgent", limit: 1 })),
    ]).then(function (found) {
      var open = found[0];
      var unassigned = found[1];
      problem.hidden = true;
      fillList(document.getElementById("queue"), open.items, t.empty_queue);
      fillList(document.getElementById("unassigned"), unassigned.items, t.empty_unassigned);
      document.getElementById("queue-count").textContent = String(open.total);
      document.getElementById("unassigned-count").textContent = String(unassigned.total);
      var more = document.getElementById("queue-more");
      more.hidden = open.total <= open.items.length;
      more.textContent = t.more_cases.replace("{n}", String(open.total - open.items.length));
      setCount("open", open.total);
      setCount("red", found[2].total);
      setCount("yellow", found[3].total);
      setCount("green", Math.max(0, open.total - found[2].total - found[3].total));
      setCount("urgent", found[4].total);
      setCount("unassigned", unassigned.total);
      drawMarkers(open.items);
      drawChart(open.items);
      document.getElementById("updated").textContent =
        t.updated + " " + C.dateTime(new Date(C.now()).toISOString());
      C.tick();
    }).catch(function (error) {
      problem.textContent = C.errorText(error);
      problem.hidden = false;
    }).then(function () {
      loading = null;
    });
    return loading;
  }

  // --- who is on duty ---------------------------------------------------------------------

  function personText(p) {
    var kind = (p.team && l.team[p.team]) || (p.department && l.department[p.department]) ||
      l.post[p.post] || p.label;
    return p.name + " " + p.number + " · " + kind;
  }

  function personItem(p) {
    var phone = p.phone && p.phone.indexOf("*") < 0
      ? el("a", { href: "tel:" + p.phone, class: "phone", text: p.phone })
      : el("span", { class: "phone muted", text: p.phone || "" });
    return el("li", { class: p.standby ? "standby" : "" }, [personText(p) + " ", phone]);
  }

  function people(list) {
    if (!list.length) {
      return el("p", { class: "muted", text: t.nobody });
    }
    return el("ul", { class: "people" }, list.map(personItem));
  }

  function names(list) {
    return list.length ? list.map(function (p) { return p.name; }).join("、") : t.nobody;
  }

  function dutyGrid(grid, night) {
    var unitForces = [];
    grid.units.forEach(function (unit) {
      unit.on_duty.forEach(function (p) {
        unitForces.push(p);
      });
    });
    var departments = grid.departments.filter(function (d) {
      return d.on_duty.length;
    });
    var name = gridName(grid.code, grid.name);
    var summary = el("summary", {}, [
      el("span", { class: "duty-grid-name", text: name }),
      grid.live
        ? el("span", { class: "muted", text: t.grid_chiefs + " " + names(grid.chiefs) })
        : el("span", { class: "tag", text: t.not_live + " · " + t.live_from + " " + grid.live_from }),
      el("span", {
        class: "badge" + (grid.live && !grid.street.length ? " badge-alert" : ""),
        text: t.street_forces + " " + grid.street.length,
      }),
    ]);
    var body = el("dl", { class: "duty-facts" }, [
      el("dt", { text: t.deputies }), el("dd", { text: names(grid.deputies) }),
      el("dt", { text: t.station_chiefs }), el("dd", { text: names(grid.station_chiefs) }),
      el("dt", { text: t.street_forces }), el("dd", {}, [people(grid.street)]),
      el("dt", { text: t.unit_forces }),
      el("dd", {}, [
        el("p", { class: "muted", text: unitForces.length + " " + t.people }),
        people(unitForces),
      ]),
      el("dt", { text: night ? t.standby : t.departments }),
      el("dd", {}, departments.length ? departments.map(function (d) {
        return el("div", { class: "department" }, [
          el("p", { class: "department-name", text: l.department[d.department] || d.label }),
          people(d.on_duty),
        ]);
      }) : [el("p", { class: "muted", text: t.nobody })]),
    ]);
    return el("li", { class: "duty-grid" + (grid.live ? "" : " not-live") }, [
      el("details", {}, [summary, body]),
    ]);
  }

  function loadDuty() {
    var holder = document.getElementById("duty");
    if (!holder || !config.may.duty) {
      return;
    }
    C.get("/api/v1/duty").then(function (board) {
      var night = board.shift === "night";
      var shift = l.shift[board.shift] || board.shift_label;
      var badge = document.getElementById("shift-badge");
      badge.textContent = t.shift + " · " + shift;
      badge.className = "shift-badge shift-" + board.shift;
      badge.hidden = false;
      document.getElementById("duty-shift").textContent = shift;
      var centre = el("dl", { class: "duty-centre" }, [
        el("dt", { text: t.duty_commander }),
        el("dd", {}, [board.commander ? people([board.commander]) : el("p", { class: "text-alert", text: t.nobody })]),
        el("dt", { text: t.operators }),
        el("dd", {}, [people(board.operators)]),
      ]);
      var grids = el("ul", { class: "duty-grids" }, board.grids.map(function (g) {
        return dutyGrid(g, night);
      }));
      holder.replaceChildren(centre, grids);
    }).catch(function (error) {
      holder.replaceChildren(el("p", { class: "alert", role: "alert", text: C.errorText(error) }));
    });
  }

  // --- live updates (server-sent events; the 30 s poll stays as the fallback) -------------

  var soon = null;

  // Refresh shortly after a change (a burst of changes makes one refresh), after any
  // load already running, which may have started before the change.
  function refreshSoon() {
    if (soon !== null) {
      return;
    }
    soon = window.setTimeout(function () {
      soon = null;
      (loading || Promise.resolve()).then(loadCases);
    }, 200);
  }

  function listen() {
    if (!window.EventSource) {
      return;
    }
    var source = new window.EventSource("/command/events");
    var first = true;
    source.addEventListener("ready", function () {
      document.body.setAttribute("data-live", "on");
      if (!first) {
        refreshSoon(); // back after a break: catch up with what was missed
      }
      first = false;
    });
    source.addEventListener("case", refreshSoon);
    source.addEventListener("reload", refreshSoon);
    source.addEventListener("error", function () {
      document.body.setAttribute("data-live", "off"); // EventSource reconnects by itself
    });
  }

  // --- wiring -----------------------------------------------------------------------------

  function onQueueClick(event) {
    var button = event.target.closest("button.locate");
    if (button) {
      showOnMap(button.getAttribute("data-id"));
    }
  }

  function start() {
    restore();
    initMap();
    filters.addEventListener("change", function () {
      remember();
      loadCases();
    });
    filters.addEventListener("reset", function () {
      window.setTimeout(function () {
        remember();
        loadCases();
      }, 0);
    });
    filters.addEventListener("submit", function (event) {
      event.preventDefault();
    });
    document.getElementById("refresh").addEventListener("click", function () {
      loadCases();
      loadDuty();
    });
    document.getElementById("queue").addEventListener("click", onQueueClick);
    document.getElementById("unassigned").addEventListener("click", onQueueClick);
    window.addEventListener("resize", function () {
      map.invalidateSize();
      if (chart) {
        chart.resize();
      }
    });
    drawTerritory().catch(function (error) {
      var problem = document.getElementById("queue-error");
      problem.textContent = C.errorText(error);
      problem.hidden = false;
    }).then(function () {
      loadCases();
    });
    loadDuty();
    window.setInterval(loadCases, REFRESH_MS);
    listen();
    window.setInterval(loadDuty, DUTY_REFRESH_MS);
  }

  start();
})();
