// Inline validation: when a field with a feedback slot changes, ask the server (the same
// validator as on save) and show its message next to the field.
document.addEventListener("change", function (event) {
  var input = event.target;
  if (!input.form || !input.name) return;
  var slot = document.querySelector('[data-validate="' + input.name + '"]');
  var holder = document.getElementById("validate-url");
  if (!slot || !holder) return;
  var data = new FormData(input.form);
  fetch(holder.dataset.url + "?field=" + encodeURIComponent(input.name), {
    method: "POST", body: data, credentials: "same-origin",
    headers: {"X-CSRFToken": data.get("csrfmiddlewaretoken")}
  }).then(function (response) { return response.text(); })
    .then(function (html) { slot.innerHTML = html; });
});

// The navigation's menus (<details>): one open at a time, closed by a click elsewhere or Escape.
document.addEventListener("click", function (event) {
  document.querySelectorAll("details.menu[open]").forEach(function (menu) {
    if (!menu.contains(event.target)) menu.removeAttribute("open");
  });
});
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape") return;
  document.querySelectorAll("details.menu[open]").forEach(function (menu) { menu.removeAttribute("open"); });
});
