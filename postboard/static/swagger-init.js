// Starts Swagger UI on /docs. A file rather than the inline script FastAPI writes, so that the page's
// Content-Security-Policy can allow scripts from our own origin only.
"use strict";

// Swagger UI reports a refused request, a failed Authorize included, by its HTTP status text ("Error:
// Forbidden"). The API says what went wrong in the JSON body's "detail" ("Invalid Credentials"), so a
// failed answer that has one shows it instead.
function showTheApiMessage(response) {
  if (!response.ok && response.body && typeof response.body.detail === "string") {
    response.statusText = response.body.detail;
  }
  return response;
}

window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis],
  responseInterceptor: showTheApiMessage,
});
