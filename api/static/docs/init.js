// Starts Swagger UI on /openapi.json. A file of its own, not an inline script, so that the page
// runs under a Content-Security-Policy without 'unsafe-inline'.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  // The validator badge would ask a public service to check the spec: nothing leaves the page.
  validatorUrl: null,
});
