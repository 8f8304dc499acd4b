// Shared by the command centre's pages: the page's configuration, the server's clock,
// countdowns, safe DOM building and requests to /api/v1 with the CSRF token.
// (Kept out of the pages: the Content-Security-Policy forbids inline scripts.)
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("page-config").textContent);
  var t = config.words;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  // Deadlines are the server's: count against its clock, not this computer's.
  var offset = Date.parse(config.serverNow) - Date.now();
  var locale = config.lang === "en" ? "en-GB" : "zh-CN";
  var zone = "Asia/Shanghai";
  var timeFormat = new Intl.DateTimeFormat(locale, {
    timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  var dateTimeFormat = new Intl.DateTimeFormat(locale, {
    timeZone: zone, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hour12: false,
  });

  function now() {
    return Date.now() + offset;
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  // 2:05:09, 12:04, or "3天 02:00:00" / "3d 02:00:00" past a day.
  function span(ms) {
    var seconds = Math.floor(ms / 1000);
    var days = Math.floor(seconds / 86400);
    var h = Math.floor((seconds % 86400) / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    var clock = (h || days ? (days ? pad(h) : h) + ":" : "") + pad(m) + ":" + pad(s);
    return days ? days + (config.lang === "en" ? "d " : "天 ") + clock : clock;
  }

  function countdown(due) {
    var left = Date.parse(due) - now();
    if (left < 0) {
      return { text: t.overdue + " " + span(-left), overdue: true };
    }
    return { text: span(left), overdue: false };
  }

  function tick() {
    var clock = document.getElementById("server-clock");
    if (clock) {
      clock.textContent = timeFormat.format(new Date(now()));
    }
    var timers = document.querySelectorAll("[data-due]");
    for (var i = 0; i < timers.length; i++) {
      var state = countdown(timers[i].getAttribute("data-due"));
      if (timers[i].textContent !== state.text) {
        timers[i].textContent = state.text;
      }
      timers[i].classList.toggle("overdue", state.overdue);
    }
  }

  // el("a", {href: "/x", class: "y"}, ["text", child]) — text is never parsed as HTML.
  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    var attrs = attributes || {};
    Object.keys(attrs).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) {
        return;
      }
      if (name === "text") {
        node.textContent = value;
      } else if (name === "class") {
        node.className = value;
      } else {
        node.setAttribute(name, value === true ? "" : value);
      }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) {
        return;
      }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function ApiError(status, body) {
    this.status = status;
    this.body = body || {};
  }

  function request(method, url, body, headers) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: Object.assign({ Accept: "application/json" }, headers || {}),
    };
    if (method !== "GET") {
      options.headers["X-CSRF-Token"] = csrf;
    }
    if (body instanceof FormData) {
      options.body = body;
    } else if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try {
          data = text ? JSON.parse(text) : null;
        } catch (ignored) {
          data = { message: text.slice(0, 300) };
        }
        if (!response.ok) {
          throw new ApiError(response.status, data);
        }
        return data;
      });
    });
  }

  // What went wrong, as the API said it (its messages carry Chinese and English).
  function errorText(error) {
    if (!(error instanceof ApiError)) {
      return t.load_failed + ": " + (error && error.message ? error.message : String(error));
    }
    if (error.status === 401) {
      return t.sign_in_again + " — " + (error.body.message || "401");
    }
    var parts = [error.body.message || t.error + " (" + error.status + ")"];
    (error.body.detail || []).forEach(function (d) {
      if (d && d.msg && parts.indexOf(d.msg) < 0 && d.msg !== error.body.message) {
        parts.push(d.msg);
      }
    });
    if (error.body.allowed) {
      var names = error.body.allowed.map(function (a) {
        return config.labels.action[a] || a;
      });
      parts.push(t.allowed_now + t.colon + (names.join(config.lang === "en" ? ", " : "、") || "—"));
    }
    return parts.join("\n");
  }

  function dateTime(iso) {
    return iso ? dateTimeFormat.format(new Date(iso)) : "";
  }

  function nearestDeadline(item) {
    var best = null;
    Object.keys(item.deadlines || {}).forEach(function (stage) {
      var due = item.deadlines[stage];
      if (best === null || Date.parse(due) < Date.parse(best.due)) {
        best = { stage: stage, due: due };
      }
    });
    return best;
  }

  // A case's marker: coloured by its light; urgent ones larger, bordered and marked "!".
  function caseIcon(item, selected) {
    var urgent = item.urgency === "urgent";
    var size = urgent ? 28 : 18;
    return window.L.divIcon({
      className:
        "case-marker light-" + item.light + (urgent ? " urgent" : "") +
        (item.unassigned ? " unassigned" : "") + (selected ? " selected" : ""),
      iconSize: [size, size],
      html: urgent ? '<span aria-hidden="true">!</span>' : "",
    });
  }

  function caseLabel(item) {
    var l = config.labels;
    return [
      item.number,
      l.light[item.light],
      item.urgency === "urgent" ? t.urgent : "",
      config.lang === "en" ? item.subclass.name_en : item.subclass.name_zh,
    ].filter(Boolean).join(" · ");
  }

  tick();
  window.setInterval(tick, 1000);

  window.Chengyun = {
    config: config,
    t: t,
    l: config.labels,
    now: now,
    el: el,
    tick: tick,
    get: function (url) {
      return request("GET", url);
    },
    send: request,
    ApiError: ApiError,
    errorText: errorText,
    dateTime: dateTime,
    nearestDeadline: nearestDeadline,
    caseIcon: caseIcon,
    caseLabel: caseLabel,
  };
})();
