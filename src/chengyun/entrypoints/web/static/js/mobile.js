// The staff phone pages (/m/): reporting a problem and working one's tasks on a slow,
// unreliable connection.
//
// A report is kept on the phone (localStorage) with its Idempotency-Key from the moment
// it is sent until the server acknowledges it; a dropped connection is retried with
// backoff (and at once when the network comes back), and the same key makes a retry that
// the server already received return the same case instead of a second one. The person
// is told plainly: "已送达 — 案件编号 …" or "未送达，正在重试". Photos are shrunk on the phone
// (canvas, JPEG) before upload. Actions on a task carry the case version (If-Match); a
// retry first asks the server whether the action already went through.
(function () {
  "use strict";

  var C = window.Chengyun;
  var t = C.t;
  var config = C.config;
  var OUTBOX = "chengyun-m-outbox";
  var DONE = "chengyun-m-done";
  var MAX_SIDE = 1600; // pixels: enough to see the problem, small enough for a slow link
  var QUALITY = 0.8;
  var MAX_PHOTOS = 3;
  var BACKOFF = [1, 2, 4, 8, 15, 30]; // seconds between attempts, then every 30 s
  var TIMEOUT_MS = 90000;

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (all, name) {
      return values[name] !== undefined ? String(values[name]) : all;
    });
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) {
      return "m-" + window.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return "m-" + Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? "0" : "") + b.toString(16);
    }).join("");
  }

  // --- what the server said -------------------------------------------------------------

  // Worth trying again: no answer at all, or the server (or a proxy) was busy or down.
  function transient(error) {
    if (!(error instanceof C.ApiError)) {
      return true;
    }
    return error.status === 408 || error.status === 425 || error.status === 429 ||
      error.status >= 500;
  }

  function signedOut(error) {
    return error instanceof C.ApiError && (error.status === 401 ||
      (error.status === 403 && /csrf/i.test(JSON.stringify(error.body || {}))));
  }

  function delay(attempt) {
    return BACKOFF[Math.min(attempt - 1, BACKOFF.length - 1)];
  }

  // fetch with a time limit, through common.js (session cookie + CSRF header)
  function send(method, url, body, headers) {
    var timer;
    var timeout = new Promise(function (resolve, reject) {
      timer = window.setTimeout(function () {
        reject(new Error("timeout"));
      }, TIMEOUT_MS);
    });
    return Promise.race([C.send(method, url, body, headers), timeout]).then(function (value) {
      window.clearTimeout(timer);
      return value;
    }, function (error) {
      window.clearTimeout(timer);
      throw error;
    });
  }

  // --- photos ---------------------------------------------------------------------------

  function readAsDataUrl(blob) {
    return new Promise(function (resolve, reject) {
      var reader = new FileReader();
      reader.onload = function () { resolve(reader.result); };
      reader.onerror = function () { reject(reader.error); };
      reader.readAsDataURL(blob);
    });
  }

  // A photo shrunk to at most MAX_SIDE pixels, as a JPEG data URL (the original when the
  // browser cannot draw it, e.g. an unusual format).
  function shrink(file) {
    return new Promise(function (resolve) {
      var url = URL.createObjectURL(file);
      var image = new Image();
      image.onload = function () {
        var scale = Math.min(1, MAX_SIDE / Math.max(image.naturalWidth, image.naturalHeight));
        var canvas = document.createElement("canvas");
        canvas.width = Math.max(1, Math.round(image.naturalWidth * scale));
        canvas.height = Math.max(1, Math.round(image.naturalHeight * scale));
        canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
        URL.revokeObjectURL(url);
        resolve(canvas.toDataURL("image/jpeg", QUALITY));
      };
      image.onerror = function () {
        URL.revokeObjectURL(url);
        resolve(readAsDataUrl(file));
      };
      image.src = url;
    });
  }

  // data: URL → Blob, without fetch (the Content-Security-Policy allows only 'self').
  function toBlob(dataUrl) {
    var comma = dataUrl.indexOf(",");
    var type = (dataUrl.slice(5, comma).split(";")[0]) || "image/jpeg";
    var binary = window.atob(dataUrl.slice(comma + 1));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return new Blob([bytes], { type: type });
  }

  function previews(list, urls) {
    if (!list) {
      return;
    }
    list.replaceChildren.apply(list, urls.map(function (url, i) {
      return C.el("li", {}, [C.el("img", {
        src: url, alt: t.photo + " " + (i + 1), width: 96, height: 96,
      })]);
    }));
  }

  // --- the outbox: reports kept on the phone until the server has them --------------------

  function outbox() {
    try {
      return JSON.parse(window.localStorage.getItem(OUTBOX) || "[]");
    } catch (ignored) {
      return [];
    }
  }

  var memory = null; // when the phone's storage is full, the report is kept in the page

  function saveOutbox(entries) {
    try {
      window.localStorage.setItem(OUTBOX, JSON.stringify(entries));
      memory = null;
    } catch (ignored) {
      memory = entries;
    }
  }

  function pending() {
    return memory || outbox();
  }

  function keep(entry) {
    saveOutbox(pending().filter(function (e) { return e.key !== entry.key; }).concat([entry]));
  }

  function forget(key) {
    saveOutbox(pending().filter(function (e) { return e.key !== key; }));
  }

  function reportData(entry) {
    var data = new FormData();
    data.append("case", JSON.stringify(entry.body));
    entry.photos.forEach(function (url, i) {
      data.append("photos", toBlob(url), "photo-" + (i + 1) + ".jpg");
    });
    return data;
  }

  var sending = {};

  // Send one kept report until it is received or refused; `say` tells the person.
  function deliver(entry, say) {
    if (sending[entry.key]) {
      return;
    }
    sending[entry.key] = true;
    var attempt = 0;
    var timer = null;

    function retryLater(error) {
      attempt += 1;
      var seconds = delay(attempt);
      var offline = navigator.onLine === false;
      say(offline ? t.m_offline : fill(t.m_retrying, { a: attempt + 1, s: seconds }), "retrying",
        error);
      timer = window.setTimeout(go, seconds * 1000);
    }

    function go() {
      timer = null;
      say(t.m_sending, "sending");
      send("POST", "/api/v1/cases", reportData(entry), { "Idempotency-Key": entry.key })
        .then(function (found) {
          forget(entry.key);
          delete sending[entry.key];
          window.removeEventListener("online", now);
          say(fill(t.m_received_case, { n: found.number }), "received", null, found);
        }).catch(function (error) {
          if (signedOut(error)) {
            delete sending[entry.key];
            window.removeEventListener("online", now);
            say(t.m_signed_out, "signed_out", error);
          } else if (transient(error)) {
            retryLater(error);
          } else {
            forget(entry.key); // the server refused it: nothing was stored under the key
            delete sending[entry.key];
            window.removeEventListener("online", now);
            say(fill(t.m_refused, { e: C.errorText(error) }), "refused", error);
          }
        });
    }

    function now() {
      if (timer !== null) {
        window.clearTimeout(timer);
        go();
      }
    }

    window.addEventListener("online", now);
    go();
  }

  // --- the report page ------------------------------------------------------------------

  var position = null;

  function locate(onDone) {
    var status = byId("position-status");
    if (!navigator.geolocation) {
      if (status) {
        status.textContent = t.m_locate_failed;
      }
      if (onDone) {
        onDone(null);
      }
      return;
    }
    if (status) {
      status.textContent = t.m_locating;
      status.className = "position-status";
    }
    navigator.geolocation.getCurrentPosition(function (found) {
      position = {
        lng: found.coords.longitude,
        lat: found.coords.latitude,
        crs: config.crs, // phones in China report GCJ-02; the server converts
      };
      if (status) {
        status.textContent = fill(t.m_located, { m: Math.round(found.coords.accuracy || 0) });
        status.className = "position-status ok";
      }
      if (onDone) {
        onDone(position);
      }
    }, function () {
      if (status) {
        status.textContent = t.m_locate_failed;
        status.className = "position-status bad";
      }
      if (onDone) {
        onDone(null);
      }
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
  }

  function reportPage(form) {
    var shots = { photos: [], before: [], after: [] };
    var selfHandled = byId("self-handled");
    var problem = byId("form-problem");
    var outcome = byId("outcome");
    var status = byId("submit-status");

    function showShots() {
      var urls = selfHandled.checked ? shots.before.concat(shots.after) : shots.photos;
      previews(byId("previews"), urls);
      byId("photos-taken").textContent = shots.photos.length
        ? fill(t.m_photo_taken, { n: shots.photos.length }) : "";
      byId("before-taken").textContent = shots.before.length ? fill(t.m_photo_taken, { n: 1 }) : "";
      byId("after-taken").textContent = shots.after.length ? fill(t.m_photo_taken, { n: 1 }) : "";
      byId("clear-photos").hidden = urls.length === 0;
    }

    function take(input, slot, most) {
      input.addEventListener("change", function () {
        var files = Array.prototype.slice.call(input.files || []);
        Promise.all(files.map(shrink)).then(function (urls) {
          shots[slot] = shots[slot].concat(urls).slice(-most);
          input.value = "";
          showShots();
        });
      });
    }

    take(byId("photos"), "photos", MAX_PHOTOS);
    take(byId("photo-before"), "before", 1);
    take(byId("photo-after"), "after", 1);
    byId("clear-photos").addEventListener("click", function () {
      shots = { photos: [], before: [], after: [] };
      showShots();
    });
    selfHandled.addEventListener("change", function () {
      byId("plain-photos").hidden = selfHandled.checked;
      byId("before-after").hidden = !selfHandled.checked;
      showShots();
    });

    // the subclass picker: type part of a name (either language) or a code
    var search = byId("subclass-search");
    var choices = Array.prototype.slice.call(document.querySelectorAll("#subclasses .choice"));
    search.addEventListener("input", function () {
      var words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      choices.forEach(function (choice) {
        var text = choice.getAttribute("data-search");
        var match = words.every(function (w) { return text.indexOf(w) >= 0; });
        var checked = choice.querySelector("input").checked;
        choice.hidden = !(match || checked);
        shown += choice.hidden ? 0 : 1;
      });
      byId("subclass-none").hidden = shown > 0;
    });
    search.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault(); // Enter in the search box picks nothing and sends nothing
      }
    });

    byId("locate").addEventListener("click", function () {
      locate();
    });
    locate();

    function refuse(text) {
      problem.textContent = text;
      problem.hidden = false;
      problem.focus();
    }

    function say(text, state, error, found) {
      outcome.hidden = false;
      status.textContent = text;
      status.className = "status-line " + state;
      byId("another").hidden = state !== "received";
      if (state === "refused" || state === "signed_out") {
        form.hidden = false;
        byId("send").disabled = false;
      }
      if (state === "received" || state === "refused") {
        status.focus();
      }
      if (state === "received" && found) {
        status.setAttribute("data-case", found.number);
      }
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      problem.hidden = true;
      var checked = form.querySelector("input[name=subclass]:checked");
      var self = selfHandled.checked;
      if (self && (!shots.before.length || !shots.after.length)) {
        return refuse(t.m_need_before_after);
      }
      if (!self && !shots.photos.length) {
        return refuse(t.m_need_photo);
      }
      if (!position) {
        locate();
        return refuse(t.m_need_position);
      }
      if (!checked) {
        return refuse(t.m_need_subclass);
      }
      var entry = {
        key: newKey(),
        at: new Date().toISOString(),
        body: {
          channel: "patrol",
          subclass: checked.value,
          description: byId("description").value.trim(),
          position: position,
          observed_at: new Date(C.now()).toISOString(),
          self_handled: self,
        },
        // self-handled: the server takes the first half as "before", the rest as "after"
        photos: self ? shots.before.concat(shots.after) : shots.photos,
      };
      keep(entry);
      byId("send").disabled = true;
      form.hidden = true;
      deliver(entry, say);
    });

    // reports kept from an earlier visit are sent now
    pending().forEach(function (entry) {
      deliver(entry, say);
    });
  }

  // --- the home page --------------------------------------------------------------------

  function homePage(notice) {
    var entries = pending();
    if (!entries.length) {
      return;
    }
    var left = entries.length;
    notice.textContent = fill(t.m_pending, { n: left });
    notice.hidden = false;
    entries.forEach(function (entry) {
      deliver(entry, function (text, state) {
        if (state === "received" || state === "refused") {
          left -= 1;
          notice.textContent = left ? fill(t.m_pending, { n: left }) : text;
        } else if (state === "signed_out") {
          notice.textContent = text;
        }
      });
    });
  }

  // --- a task ---------------------------------------------------------------------------

  function Invalid(message) {
    this.message = message;
  }

  function actionBody(form, action) {
    var body = {};
    var note = form.querySelector("[name=note]");
    if (note && note.value.trim()) {
      body.note = note.value.trim();
    }
    var reason = form.querySelector("[name=reason]");
    if (reason) {
      if (!reason.value.trim()) {
        throw new Invalid(t.m_reason + t.colon + t.required);
      }
      body.reason = reason.value.trim();
    }
    if (action === "check") {
      var passed = form.querySelector("[name=passed]:checked");
      if (!passed) {
        throw new Invalid(t.m_passed);
      }
      body.passed = passed.value === "true";
    }
    if (action === "request_extension") {
      var minutes = parseInt(form.querySelector("[name=minutes]").value, 10);
      if (!(minutes > 0)) {
        throw new Invalid(t.m_minutes + t.colon + t.required);
      }
      body.minutes = minutes;
    }
    return body;
  }

  // Did our action get through although its answer was lost? The case moved on past the
  // version we saw, and its latest events include this action by this person.
  function alreadyDone(action) {
    return C.get("/api/v1/cases/" + config.caseId).then(function (detail) {
      if (detail.version === config.version) {
        return false;
      }
      return detail.timeline.slice(-3).some(function (e) {
        return e.action === action && e.actor === config.person;
      });
    });
  }

  // What was received before the page reloaded, said once.
  function saidBefore(status) {
    var done = window.sessionStorage.getItem(DONE);
    if (done) {
      window.sessionStorage.removeItem(DONE);
      status.textContent = done;
      status.className = "status-line received";
      status.hidden = false;
      status.focus();
    }
  }

  function taskPage(forms) {
    var status = byId("action-status");

    forms.forEach(function (form) {
      var action = form.getAttribute("data-action");
      var photos = [];
      var input = form.querySelector("input[type=file]");
      if (input) {
        input.addEventListener("change", function () {
          Promise.all(Array.prototype.map.call(input.files || [], shrink)).then(function (urls) {
            photos = photos.concat(urls).slice(-MAX_PHOTOS);
            input.value = "";
            form.querySelector(".photos-taken").textContent =
              fill(t.m_photo_taken, { n: photos.length });
          });
        });
      }

      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var problem = form.querySelector(".form-error");
        var button = form.querySelector("button[type=submit]");
        var label = C.l.action[action] || action;
        var body;
        problem.hidden = true;
        try {
          body = actionBody(form, action);
        } catch (error) {
          problem.textContent = error.message;
          problem.hidden = false;
          problem.focus();
          return;
        }
        var uploaded = null; // photo ids, uploaded once even when the action is retried
        var attempt = 0;
        button.disabled = true;

        function say(text, state) {
          status.textContent = text;
          status.className = "status-line " + state;
          status.hidden = false;
        }

        function upload() {
          if (uploaded !== null || !photos.length) {
            return Promise.resolve(uploaded);
          }
          var data = new FormData();
          photos.forEach(function (url, i) {
            data.append("photos", toBlob(url), "photo-" + (i + 1) + ".jpg");
          });
          return send("POST", "/api/v1/cases/" + config.caseId + "/photos", data)
            .then(function (answer) {
              uploaded = answer.photos.map(function (p) { return p.id; });
              return uploaded;
            });
        }

        function post() {
          return upload().then(function (ids) {
            if (ids) {
              body.photos = ids;
            }
            return send(
              "POST",
              "/api/v1/cases/" + config.caseId + "/actions/" + encodeURIComponent(action),
              body,
              { "If-Match": String(config.version) }
            );
          });
        }

        function received() {
          window.sessionStorage.setItem(DONE, fill(t.m_done_action, { a: label }));
          window.location.reload();
        }

        function failed(error) {
          button.disabled = false;
          say(fill(t.m_refused, { e: C.errorText(error) }), "refused");
          problem.textContent = C.errorText(error);
          problem.hidden = false;
          problem.focus();
        }

        function go(retry) {
          say(t.m_sending, "sending");
          var first = retry ? alreadyDone(action) : Promise.resolve(false);
          first.then(function (done) {
            return done ? null : post();
          }).then(received).catch(function (error) {
            if (signedOut(error)) {
              button.disabled = false;
              say(t.sign_in_again, "signed_out");
            } else if (transient(error)) {
              attempt += 1;
              var seconds = delay(attempt);
              say(navigator.onLine === false ? t.m_offline
                : fill(t.m_retrying, { a: attempt + 1, s: seconds }), "retrying");
              window.setTimeout(function () { go(true); }, seconds * 1000);
            } else {
              failed(error);
            }
          });
        }

        if (action === "arrive") {
          say(t.m_locating, "sending");
          locate(function (found) {
            if (found) {
              body.position = found;
            }
            go(false);
          });
        } else {
          go(false);
        }
      });
    });
  }

  // --- wiring ---------------------------------------------------------------------------

  var form = byId("report-form");
  if (form) {
    reportPage(form);
  }
  var notice = byId("pending");
  if (notice) {
    homePage(notice);
  }
  if (byId("action-status")) {
    saidBefore(byId("action-status"));
  }
  var actionForms = Array.prototype.slice.call(document.querySelectorAll(".action-form"));
  if (actionForms.length) {
    taskPage(actionForms);
  }
})();
