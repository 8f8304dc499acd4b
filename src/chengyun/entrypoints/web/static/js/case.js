// One case (/command/cases/{id}): its place on a small map, and a form for every action
// the reader may take, posted to /api/v1/cases/{id}/actions/{action} with the CSRF header.
(function () {
  "use strict";

  var C = window.Chengyun;
  var L = window.L;
  var t = C.t;
  var config = C.config;
  var DONE_KEY = "chengyun-case-done";

  // --- the small map ----------------------------------------------------------------------

  function drawMap() {
    var holder = document.getElementById("case-map");
    if (!config.position || !holder || !L) {
      return;
    }
    var here = [config.position.lat, config.position.lng];
    var map = L.map(holder, { zoomSnap: 0.25, scrollWheelZoom: false });
    map.attributionControl.setPrefix(false);
    if (config.tileUrl) {
      L.tileLayer(config.tileUrl, { maxZoom: 19 }).addTo(map);
    }
    map.setView(here, 16);
    var marks = L.layerGroup().addTo(map);
    config.events.forEach(function (event) {
      L.marker([event.lat, event.lng], {
        icon: L.divIcon({
          className: "event-marker",
          iconSize: [20, 20],
          html: String(event.seq),
        }),
        keyboard: false,
        title: event.seq + " " + event.label,
      }).addTo(marks);
    });
    L.marker(here, {
      icon: C.caseIcon({ light: config.light, urgency: config.urgent ? "urgent" : "general" }),
      keyboard: false,
      title: document.querySelector(".case-number").textContent,
      zIndexOffset: 1000,
    }).addTo(marks);
    if (!config.may.territory || !config.gridCode) {
      return;
    }
    Promise.all([
      C.get("/api/v1/territory/grids"),
      C.get("/api/v1/territory/units?grid=" + encodeURIComponent(config.gridCode)),
    ]).then(function (found) {
      var grid = L.geoJSON(found[0], {
        filter: function (f) {
          return f.properties.code === config.gridCode;
        },
        style: { color: "#0b5394", weight: 3, fill: false },
      });
      var units = L.geoJSON(found[1], {
        style: function (f) {
          var mine = f.properties.code === config.unitCode;
          return {
            color: mine ? "#0b5394" : "#8a94a3",
            weight: mine ? 2 : 1,
            fillColor: mine ? "#b7cde3" : "#ffffff",
            fillOpacity: mine ? 0.5 : 0.2,
          };
        },
        onEachFeature: function (feature, layer) {
          var p = feature.properties;
          layer.bindTooltip(config.lang === "en" ? p.name_en || p.name : p.name, { sticky: true });
        },
      });
      units.addTo(map);
      grid.addTo(map);
      units.eachLayer(function (layer) {
        if (layer.feature.properties.code === config.unitCode) {
          map.fitBounds(layer.getBounds().extend(here), {
            padding: [24, 24], maxZoom: 17, animate: false,
          });
        }
      });
      marks.remove();
      marks.addTo(map);
    }).catch(function () {
      // the map still shows the positions; the outlines are a nicety
    });
  }

  // --- the action forms -------------------------------------------------------------------

  var toggles = Array.prototype.slice.call(document.querySelectorAll(".action-toggle"));
  var result = document.getElementById("action-result");

  function close(form) {
    form.hidden = true;
    var toggle = document.querySelector('.action-toggle[aria-controls="' + form.id + '"]');
    if (toggle) {
      toggle.setAttribute("aria-expanded", "false");
    }
  }

  function open(toggle) {
    var form = document.getElementById(toggle.getAttribute("aria-controls"));
    var wasOpen = !form.hidden;
    document.querySelectorAll(".action-form").forEach(close);
    if (wasOpen) {
      toggle.focus();
      return;
    }
    form.hidden = false;
    toggle.setAttribute("aria-expanded", "true");
    var first = form.querySelector("input:not([type=hidden]), select, textarea, button[type=submit]");
    if (first) {
      first.focus();
    }
  }

  function Invalid(message) {
    this.message = message;
  }

  // The action's parameters, as the API names them, from the form's fields.
  function params(form) {
    var body = {};
    form.querySelectorAll("[data-param]").forEach(function (field) {
      var name = field.getAttribute("data-param");
      var kind = field.getAttribute("data-kind");
      if (kind === "bool") {
        var checked = field.querySelector("input:checked");
        if (checked) {
          body[name] = checked.value === "true";
        }
      } else if (kind === "choices") {
        var values = Array.prototype.map.call(field.querySelectorAll("input:checked"), function (i) {
          return i.value;
        });
        if (values.length) {
          body[name] = values;
        }
      } else if (kind === "position") {
        var lng = field.querySelector("[name=lng]").value.trim();
        var lat = field.querySelector("[name=lat]").value.trim();
        if (lng || lat) {
          if (!lng || !lat) {
            throw new Invalid(t.both_coordinates);
          }
          body[name] = { lng: Number(lng), lat: Number(lat), crs: "wgs84" };
        }
      } else if (kind === "photos") {
        // uploaded first; see send()
      } else {
        var input = field.querySelector("input, textarea, select");
        var value = input.value.trim();
        if (!value) {
          return;
        }
        if (kind === "number") {
          body[name] = parseInt(value, 10);
        } else if (kind === "lines") {
          body[name] = value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
        } else {
          body[name] = value;
        }
      }
    });
    return body;
  }

  function uploadPhotos(form) {
    var input = form.querySelector('[data-kind="photos"] input[type=file]');
    if (!input || !input.files.length) {
      return Promise.resolve(null);
    }
    var data = new FormData();
    Array.prototype.forEach.call(input.files, function (file) {
      data.append("photos", file);
    });
    return C.send("POST", "/api/v1/cases/" + config.caseId + "/photos", data).then(function (answer) {
      return answer.photos.map(function (p) { return p.id; });
    });
  }

  function send(form) {
    var action = form.getAttribute("data-action");
    var problem = form.querySelector(".form-error");
    var submit = form.querySelector("button[type=submit]");
    var body;
    problem.hidden = true;
    try {
      body = params(form);
    } catch (error) {
      problem.textContent = error.message;
      problem.hidden = false;
      return;
    }
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    var label = submit.textContent;
    submit.textContent = t.working;
    uploadPhotos(form).then(function (photos) {
      if (photos) {
        body.photos = photos;
      }
      return C.send(
        "POST",
        "/api/v1/cases/" + config.caseId + "/actions/" + encodeURIComponent(action),
        body,
        { "If-Match": String(config.version) }
      );
    }).then(function () {
      window.sessionStorage.setItem(DONE_KEY, C.l.action[action] || action);
      window.location.reload();
    }).catch(function (error) {
      problem.textContent = t.error + " — " + C.errorText(error);
      problem.hidden = false;
      problem.focus();
      submit.disabled = false;
      submit.removeAttribute("aria-busy");
      submit.textContent = label;
    });
  }

  function wire() {
    toggles.forEach(function (toggle) {
      toggle.addEventListener("click", function () {
        open(toggle);
      });
    });
    document.querySelectorAll(".action-form").forEach(function (form) {
      form.querySelector(".form-error").setAttribute("tabindex", "-1");
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        send(form);
      });
      form.querySelector(".form-cancel").addEventListener("click", function () {
        close(form);
        var toggle = document.querySelector('.action-toggle[aria-controls="' + form.id + '"]');
        if (toggle) {
          toggle.focus();
        }
      });
      form.addEventListener("keydown", function (event) {
        if (event.key === "Escape") {
          form.querySelector(".form-cancel").click();
        }
      });
    });
    var done = window.sessionStorage.getItem(DONE_KEY);
    if (done && result) {
      window.sessionStorage.removeItem(DONE_KEY);
      result.textContent = t.done_ok + t.colon + done;
      result.className = "notice";
      result.hidden = false;
    }
  }

  wire();
  drawMap();
})();
