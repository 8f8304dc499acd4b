// The citizen page (/c/): photo previews, "use my location", and a submission that survives
// a dropped connection — it is resent with the same idempotency key (rendered into the page)
// until the server answers, so a report is never made twice.
(function () {
  "use strict";

  var form = document.getElementById("report-form");
  if (!form) return;
  var config = JSON.parse(document.getElementById("page-config").textContent);
  var t = config.words;
  var status = document.getElementById("send-status");
  var button = document.getElementById("send");
  var RETRIES = [1000, 2000, 4000, 8000];

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function show(kind, title, detail, link) {
    status.textContent = "";
    var box = el("div", kind);
    box.appendChild(el("strong", "", title));
    if (detail) box.appendChild(el("span", "", detail));
    if (link) {
      box.appendChild(document.createElement("br"));
      var a = el("a", "", t.c_follow_link);
      a.href = link;
      a.id = "follow-link";
      box.appendChild(a);
    }
    status.appendChild(box);
  }

  // previews of the chosen photos (blob: URLs are allowed by the page's policy)
  var photos = document.getElementById("photos");
  var previews = document.getElementById("previews");
  photos.addEventListener("change", function () {
    previews.textContent = "";
    Array.prototype.slice.call(photos.files, 0, config.maxPhotos).forEach(function (file) {
      var img = document.createElement("img");
      img.alt = "";
      img.src = URL.createObjectURL(file);
      previews.appendChild(img);
    });
  });

  // the shop's position is filled in; the phone's own may replace it
  var locate = document.getElementById("use-location");
  var whereText = document.getElementById("where-text");
  if (!navigator.geolocation) locate.hidden = true;
  locate.addEventListener("click", function () {
    locate.disabled = true;
    navigator.geolocation.getCurrentPosition(
      function (position) {
        document.getElementById("lng").value = position.coords.longitude.toFixed(6);
        document.getElementById("lat").value = position.coords.latitude.toFixed(6);
        whereText.textContent = t.c_location_used;
        locate.disabled = false;
      },
      function () {
        whereText.appendChild(el("span", "c-hint", t.c_location_failed));
        locate.disabled = false;
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
    );
  });

  function message(body, fallback) {
    if (body && body.message) return body.message;
    return fallback;
  }

  function later(data, attempt) {
    show("busy", t.c_retrying);
    return new Promise(function (resolve) {
      setTimeout(function () { resolve(send(data, attempt + 1)); }, RETRIES[attempt]);
    });
  }

  function send(data, attempt) {
    return fetch(form.action, {
      method: "POST",
      body: data,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    }).then(
      function (response) {
        // the server is briefly unavailable (a restart, the database): try again later
        if (response.status >= 500 && attempt < RETRIES.length) return later(data, attempt);
        return response.json().then(
          function (body) { return { response: response, body: body }; },
          function () { return { response: response, body: null }; }
        );
      },
      function (error) {
        // no answer: the connection dropped; the same key makes a resend safe
        if (attempt < RETRIES.length) return later(data, attempt);
        throw error;
      }
    );
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!form.reportValidity()) return;
    button.disabled = true;
    show("busy", t.c_sending);
    send(new FormData(form), 0)
      .then(function (answer) {
        var response = answer.response;
        if (response.ok) {
          show("ok", t.c_received, t.c_received_hint, answer.body.follow_url);
          form.querySelectorAll("input, select, textarea, button").forEach(function (c) {
            if (c.id !== "send") c.disabled = true;
          });
          document.getElementById("follow-link").focus();
          return;
        }
        if (response.status >= 500) {
          show("fail", t.c_not_sent, t.c_not_sent_hint);
        } else {
          show("fail", t.c_error, message(answer.body, t.c_not_sent_hint));
        }
        button.disabled = false;
      })
      .catch(function () {
        show("fail", t.c_not_sent, t.c_not_sent_hint);
        button.disabled = false;
      });
  });
})();
