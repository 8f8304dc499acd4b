// Starts the vendored Swagger UI for /docs (kept out of the page so the
// Content-Security-Policy can forbid inline scripts).
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis],
  });
});
