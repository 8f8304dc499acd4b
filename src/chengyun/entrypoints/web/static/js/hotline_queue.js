// The 12345 placement queue on the command centre (_hotline_queue.html): orders whose
// address the gazetteer could not place; an operator picks the place on a small map and
// the order's case is filed (POST /api/v1/hotline/orders/{number}/place).
(function () {
  "use strict";

  var C = window.Chengyun;
  var L = window.L;
  var panel = document.getElementById("hotline-queue-panel");
  if (!panel || !C || !L) {
    return;
  }
  var el = C.el;
  var list = document.getElementById("hotline-queue");
  var count = document.getElementById("hotline-queue-count");
  var notice = document.getElementById("hotline-queue-notice");
  var error = document.getElementById("hotline-queue-error");
  var pick = document.getElementById("hotline-pick");
  var pickTitle = document.getElementById("hotline-pick-title");
  var pickWhere = document.getElementById("hotline-pick-where");
  var placeButton = document.getElementById("hotline-pick-place");
  var map = null;
  var marker = null;
  var chosen = null;
  var current = null;
  var REFRESH_MS = 60000;
  var CENTRE = [31.15, 121.11];

  function showError(text) {
    error.textContent = text;
    error.hidden = !text;
  }

  function guessText(order) {
    var s = order.suggestion;
    if (!s) {
      return "地名库无匹配 / no gazetteer entry named";
    }
    return "地名库猜测 / gazetteer guess: " + s.entry_name + " (" +
      Math.round(s.confidence * 100) + "%)";
  }

  function row(order) {
    var button = el("button", { type: "button", class: "quiet" }, ["在地图上定位 / Place on the map"]);
    button.addEventListener("click", function () {
      openPick(order);
    });
    return el("li", { "data-order": order.order_number }, [
      el("span", { class: "order-number" }, [
        order.order_number,
        order.urgent ? el("span", { class: "order-urgent" }, [" 紧急 / urgent"]) : null,
      ]),
      el("span", { class: "order-address" }, [order.address || "（无地址 / no address）"]),
      el("span", { class: "order-guess" }, [
        C.dateTime(order.received_at) + " · " + guessText(order),
      ]),
      el("span", {}, [order.content.slice(0, 80)]),
      button,
    ]);
  }

  function render(orders) {
    panel.hidden = false;
    showError("");
    count.textContent = String(orders.length);
    list.replaceChildren.apply(
      list,
      orders.length
        ? orders.map(row)
        : [el("li", { class: "empty" }, ["没有待定位的工单 / no order waits for a place"])]
    );
  }

  function load() {
    return C.get("/api/v1/hotline/placement-queue").then(render, function (failure) {
      if (failure instanceof C.ApiError && (failure.status === 401 || failure.status === 403)) {
        panel.hidden = true; // not this account's desk
        return;
      }
      panel.hidden = false;
      showError(C.errorText(failure));
    });
  }

  function ensureMap() {
    if (map) {
      return;
    }
    map = L.map("hotline-pick-map", { zoomSnap: 0.25, keyboard: true });
    map.attributionControl.setPrefix(false);
    if (C.config.tileUrl) {
      L.tileLayer(C.config.tileUrl, { maxZoom: 19 }).addTo(map);
    }
    map.setView(CENTRE, 14);
    C.get("/api/v1/territory/units").then(function (units) {
      var layer = L.geoJSON(units, {
        style: function () {
          return { color: "#5b6675", weight: 1, fillColor: "#ffffff", fillOpacity: 0.2 };
        },
        onEachFeature: function (feature, item) {
          item.bindTooltip(feature.properties.name, { sticky: true });
        },
      }).addTo(map);
      layer.on("click", function (event) {
        choose(event.latlng);
      });
    }, function () {
      return null; // without the territory the bare map still takes a click
    });
    map.on("click", function (event) {
      choose(event.latlng);
    });
  }

  function choose(latlng) {
    chosen = latlng;
    var icon = L.divIcon({ className: "hotline-pick-marker", iconSize: [18, 18] });
    if (marker) {
      marker.setLatLng(latlng);
    } else {
      marker = L.marker(latlng, { icon: icon, draggable: true, keyboard: true }).addTo(map);
      marker.on("dragend", function () {
        choose(marker.getLatLng());
      });
    }
    pickWhere.textContent = "位置 / place: " + latlng.lng.toFixed(6) + ", " + latlng.lat.toFixed(6);
    placeButton.disabled = false;
  }

  function openPick(order) {
    current = order;
    chosen = null;
    pick.hidden = false;
    pickTitle.textContent = order.order_number + " · " + (order.address || "");
    placeButton.disabled = true;
    pickWhere.textContent = "点击地图选择位置 / click the map to choose the place";
    ensureMap();
    map.invalidateSize();
    if (marker) {
      map.removeLayer(marker);
      marker = null;
    }
    var s = order.suggestion;
    if (s) {
      choose(L.latLng(s.lat, s.lng));
      map.setView([s.lat, s.lng], 16);
    } else {
      map.setView(CENTRE, 14);
    }
    document.getElementById("hotline-pick-map").focus();
  }

  function closePick() {
    pick.hidden = true;
    current = null;
  }

  placeButton.addEventListener("click", function () {
    if (!current || !chosen) {
      return;
    }
    var number = current.order_number;
    placeButton.disabled = true;
    C.send("POST", "/api/v1/hotline/orders/" + encodeURIComponent(number) + "/place", {
      lng: chosen.lng,
      lat: chosen.lat,
      crs: "wgs84",
    }).then(function (placed) {
      closePick();
      notice.replaceChildren(
        "已定位并立案 / placed and filed: " + number + " → ",
        el("a", { href: "/command/cases/" + placed.case_id }, ["#" + placed.case_id])
      );
      notice.hidden = false;
      return load();
    }, function (failure) {
      placeButton.disabled = false;
      showError(C.errorText(failure));
    });
  });
  document.getElementById("hotline-pick-cancel").addEventListener("click", closePick);

  load();
  window.setInterval(load, REFRESH_MS);
})();
