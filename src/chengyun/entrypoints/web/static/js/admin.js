// The administration pages (/admin/…): every change is sent to /api/v1 with the session
// and the CSRF token, and the API's answer — success or each problem it named — is shown.
(function () {
  "use strict";

  var C = window.Chengyun;
  var t = C.t;
  var config = C.config;
  var NOTICE_KEY = "chengyun-admin-notice";

  function show(id, text) {
    var box = document.getElementById(id);
    box.textContent = text;
    box.hidden = !text;
  }

  function done(text) {
    // The page reloads to list what is now stored; the notice survives the reload.
    window.sessionStorage.setItem(NOTICE_KEY, text);
    window.location.reload();
  }

  function failed(error, where) {
    show(where || "admin-error", C.errorText(error));
    show("admin-message", "");
  }

  var kept = window.sessionStorage.getItem(NOTICE_KEY);
  if (kept) {
    window.sessionStorage.removeItem(NOTICE_KEY);
    show("admin-message", kept);
  }

  // --- filtering a table by what is typed ---------------------------------------------------

  document.querySelectorAll("[data-filter]").forEach(function (input) {
    input.addEventListener("input", function () {
      var wanted = input.value.trim().toLowerCase();
      document.querySelectorAll(input.getAttribute("data-filter")).forEach(function (row) {
        row.hidden = wanted !== "" && row.textContent.toLowerCase().indexOf(wanted) < 0;
      });
    });
  });

  // --- uploads: the territory (GeoJSON), the force tables and the taxonomy (.xlsx) -----------

  function summary(kind, answer) {
    if (kind === "territory") {
      return t.imported + ": " + answer.grids + " " + t.grids_title + ", " + answer.units + " " +
        t.unit_count + ", " + answer.areas + " " + t.area_count;
    }
    if (kind === "forces") {
      return t.imported + ": " + answer.people + " " + t.people_title + ", " + answer.assignments +
        " " + t.assignments;
    }
    if (kind === "taxonomy") {
      return t.imported + ": " + answer.subclasses + " " + t.subclasses;
    }
    if (kind === "cameras") {
      return t.imported + ": " + answer.cameras + " " + t.cameras_title;
    }
    return t.imported + ": " + (answer.created || 0) + " + " + (answer.updated || 0) + " " + t.shops_title;
  }

  // Where each kind of upload goes (the territory is sent as JSON, the rest as a file).
  var UPLOADS = {
    forces: "/api/v1/forces.xlsx",
    taxonomy: "/api/v1/taxonomy.xlsx",
    cameras: "/api/v1/vision/cameras.xlsx",
    shops: "/api/v1/shops/import.xlsx",
  };

  document.querySelectorAll("form[data-upload]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var kind = form.getAttribute("data-upload");
      var file = form.elements.file.files[0];
      if (!file) {
        show("admin-error", t.choose_file);
        return;
      }
      show("admin-error", "");
      show("admin-message", t.working);
      var sending;
      if (kind === "territory") {
        sending = file.text().then(function (text) {
          var body;
          try {
            body = JSON.parse(text);
          } catch (error) {
            throw new Error(t.not_json + " (" + error.message + ")");
          }
          return C.send("PUT", "/api/v1/territory", body);
        });
      } else {
        var data = new FormData();
        data.append("file", file);
        sending = C.send("POST", UPLOADS[kind], data);
      }
      sending
        .then(function (answer) {
          done(summary(kind, answer || {}));
        })
        .catch(function (error) {
          failed(error);
        });
    });
  });

  // --- a grid's go-live date ------------------------------------------------------------------

  document.querySelectorAll("form[data-go-live]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var code = form.getAttribute("data-go-live");
      C.send("PATCH", "/api/v1/territory/grids/" + code, { live_from: form.elements.live_from.value })
        .then(function (grid) {
          done(t.saved + ": " + grid.name + " " + t.live_from + " " + grid.live_from);
        })
        .catch(function (error) {
          failed(error);
        });
    });
  });

  // --- the territory's map -------------------------------------------------------------------

  var mapBox = document.getElementById("admin-map");
  if (mapBox && window.L) {
    var map = window.L.map("admin-map", { zoomSnap: 0.25, keyboard: true });
    map.attributionControl.setPrefix(false);
    if (config.tileUrl) {
      window.L.tileLayer(config.tileUrl, { maxZoom: 19 }).addTo(map);
    }
    map.setView([31.15, 121.11], 14);
    Promise.all([C.get("/api/v1/territory/grids"), C.get("/api/v1/territory/units")])
      .then(function (found) {
        var units = window.L.geoJSON(found[1], {
          style: function (f) {
            return { color: "#5b6675", weight: 1, fillColor: f.properties.key ? "#b7cde3" : "#fff", fillOpacity: 0.35 };
          },
        }).addTo(map);
        var grids = window.L.geoJSON(found[0], {
          style: function () {
            return { color: "#0b5394", weight: 3, fill: false };
          },
          onEachFeature: function (feature, layer) {
            var p = feature.properties;
            layer.bindTooltip((config.lang === "en" ? p.name_en || p.name : p.name) + " · " + p.live_from, {
              permanent: true,
              direction: "center",
              className: "grid-label",
            });
          },
        }).addTo(map);
        if (grids.getLayers().length) {
          map.fitBounds(grids.getBounds(), { padding: [10, 10] });
        } else if (units.getLayers().length) {
          map.fitBounds(units.getBounds());
        }
      })
      .catch(function (error) {
        failed(error);
      });
  }

  // --- people --------------------------------------------------------------------------------

  var dialog = document.getElementById("person-dialog");
  var personForm = document.getElementById("person-form");
  var editing = null;

  function assignmentText(list) {
    return (list || [])
      .map(function (a) {
        return [a.shift, a.grid_code || "-", a.unit_code || "-", a.note || ""].join(" ").trim();
      })
      .join("\n");
  }

  function assignmentsFrom(text) {
    return text
      .split("\n")
      .map(function (line) {
        return line.trim();
      })
      .filter(Boolean)
      .map(function (line) {
        var parts = line.split(/\s+/);
        return {
          shift: parts[0],
          grid_code: parts[1] && parts[1] !== "-" ? parts[1] : null,
          unit_code: parts[2] && parts[2] !== "-" ? parts[2] : null,
          note: parts.slice(3).join(" "),
        };
      });
  }

  function openPerson(number) {
    var person = number ? config.people[number] : null;
    editing = number;
    var f = personForm.elements;
    f.number.value = person ? person.number : "";
    f.number.readOnly = !!person;
    f.name.value = person ? person.name : "";
    f.phone.value = person ? person.phone : "";
    f.post.value = person ? person.post : f.post.options[0].value;
    f.team.value = person && person.team ? person.team : "";
    f.department.value = person && person.department ? person.department : "";
    f.assignments.value = person ? assignmentText(person.assignments) : "";
    show("person-error", "");
    dialog.showModal();
    (person ? f.name : f.number).focus();
  }

  if (dialog) {
    document.getElementById("person-add").addEventListener("click", function () {
      openPerson(null);
    });
    dialog.querySelector("[data-close]").addEventListener("click", function () {
      dialog.close();
    });
    document.getElementById("people-table").addEventListener("click", function (event) {
      var edit = event.target.getAttribute("data-edit");
      var remove = event.target.getAttribute("data-delete");
      if (edit) {
        openPerson(edit);
      } else if (remove && window.confirm(t.confirm_delete + " " + remove + "?")) {
        C.send("DELETE", "/api/v1/people/" + encodeURIComponent(remove))
          .then(function () {
            done(t.deleted + ": " + remove);
          })
          .catch(function (error) {
            failed(error);
          });
      }
    });
    personForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var f = personForm.elements;
      var body = {
        number: f.number.value.trim(),
        name: f.name.value.trim(),
        phone: f.phone.value.trim(),
        post: f.post.value,
        team: f.team.value || null,
        department: f.department.value || null,
        assignments: assignmentsFrom(f.assignments.value),
      };
      var call = editing
        ? C.send("PUT", "/api/v1/people/" + encodeURIComponent(editing), body)
        : C.send("POST", "/api/v1/people", body);
      call
        .then(function (saved) {
          dialog.close();
          done(t.saved + ": " + saved.number + " " + saved.name);
        })
        .catch(function (error) {
          failed(error, "person-error");
        });
    });
  }

  // --- shops: a new code for a shop (its old poster stops working) ---------------------------

  var shopsTable = document.getElementById("shops-table");
  if (shopsTable) {
    shopsTable.addEventListener("click", function (event) {
      var id = event.target.getAttribute("data-reissue");
      if (!id || !window.confirm(t.reissue_confirm + " (" + event.target.getAttribute("data-code") + ")?")) {
        return;
      }
      C.send("POST", "/api/v1/shops/" + id + "/token")
        .then(function (shop) {
          done(t.reissued + ": " + shop.code);
        })
        .catch(function (error) {
          failed(error);
        });
    });
  }

  // --- accounts ------------------------------------------------------------------------------

  var accountForm = document.getElementById("account-form");
  if (accountForm) {
    accountForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var f = accountForm.elements;
      var body = {
        username: f.username.value.trim(),
        display_name: f.display_name.value.trim(),
        password: f.password.value || null,
        role: f.role.value,
        scope_kind: f.scope_kind.value,
        scope_code: f.scope_code.value.trim() || null,
        person_number: f.person_number.value.trim() || null,
      };
      C.send("POST", "/api/v1/accounts", body)
        .then(function (created) {
          done(t.account_created + ": " + created.username + " (" + created.role_label + ")");
        })
        .catch(function (error) {
          failed(error);
        });
    });
    document.getElementById("accounts-table").addEventListener("click", function (event) {
      var disable = event.target.getAttribute("data-disable");
      var enable = event.target.getAttribute("data-enable");
      var id = disable || enable;
      if (!id) {
        return;
      }
      C.send("PATCH", "/api/v1/accounts/" + id, { disabled: !!disable })
        .then(function (changed) {
          done((changed.disabled ? t.disabled_done : t.enabled_done) + ": " + changed.username);
        })
        .catch(function (error) {
          failed(error);
        });
    });
  }
})();
