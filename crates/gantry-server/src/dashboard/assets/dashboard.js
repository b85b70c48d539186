// gantry dashboard: progressive enhancements only. Every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // Copy buttons: <button data-copy="ELEMENT_ID">.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source) return;
      var value = source.value !== undefined ? source.value : source.textContent;
      var done = function () {
        button.textContent = "Copied";
        button.classList.add("copied");
        setTimeout(function () {
          button.textContent = "Copy";
          button.classList.remove("copied");
        }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(value).then(done, function () {
          source.select();
        });
      } else {
        source.select();
        document.execCommand("copy");
        done();
      }
    });
  });

  // Type-to-confirm: the submit button stays disabled until the input holds the word.
  document.querySelectorAll("input[data-confirm-word]").forEach(function (input) {
    var form = input.form;
    var submit = form && form.querySelector("button[type=submit]");
    if (!submit) return;
    var check = function () {
      submit.disabled = input.value !== input.getAttribute("data-confirm-word");
    };
    input.addEventListener("input", check);
    check();
  });

  // Toggles that apply at once (e.g. "Show all users").
  document.querySelectorAll("input[data-autosubmit], select[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () {
      el.form.submit();
    });
    var button = el.form && el.form.querySelector(".js-hide");
    if (button) button.hidden = true;
  });

  // Expiration: the date field only matters when "On a date" is chosen.
  document.querySelectorAll("select[data-expiration]").forEach(function (select) {
    var date = document.getElementById(select.getAttribute("data-expiration"));
    if (!date) return;
    var wrap = date.closest(".field") || date;
    var sync = function () {
      var on = select.value === "date";
      wrap.hidden = !on;
      date.required = on;
    };
    select.addEventListener("change", sync);
    sync();
  });
});
