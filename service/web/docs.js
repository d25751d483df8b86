// The API docs page (/docs): Swagger UI from the npm install (swagger-ui-dist, served under
// /static/vendor/), so the docs work without internet. A file, not an inline script, so the page
// runs under the same Content-Security-Policy as the UI. No validator badge: it would call
// validator.swagger.io.
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  showExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout",
});
