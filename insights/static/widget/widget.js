/*
 * Council Assistant chat widget. Embed with one script tag:
 *
 *   <script src="https://reports.council.example/static/widget/widget.js"
 *           data-assistant-url="https://chat.council.example" defer></script>
 *
 * Optional: data-council="Wiltshire Council" (the name residents see),
 * data-title="Ask the council" (the launcher and panel heading).
 *
 * It talks to the assistant's "webchat" channel (integrations/channels/webchat.py):
 * the server issues the conversation token; typed text is sent as text and a
 * button press as the number of an option the assistant offered. The token
 * and the transcript live in sessionStorage, so a reload keeps the
 * conversation and closing the tab ends it.
 *
 * Accessibility (WCAG 2.2 AA): real buttons and a labelled input, every
 * control reachable and usable with the keyboard (Escape closes the panel),
 * visible focus, replies announced through a polite live log, a status line
 * while the assistant is typing, text that reflows and resizes, no motion when
 * the resident prefers reduced motion (widget.css).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || document.getElementById("council-assistant")) return;

  var assistantUrl = (script.getAttribute("data-assistant-url") || "").replace(/\/+$/, "");
  var council = script.getAttribute("data-council") || "the council";
  var title = script.getAttribute("data-title") || "Ask the council";
  var storageKey = "council-assistant:" + assistantUrl;
  var REFERENCE = /\b(?:BK|LB|GW|MB|CP|CT|HO|CB)-?\d{6}\b/gi;
  var LINK = /https?:\/\/[^\s<>"]+[^\s<>".,;:!?)'\]]/g;

  var state = load();
  var busy = false;

  // --- storage -------------------------------------------------------------------

  function load() {
    try {
      var saved = JSON.parse(window.sessionStorage.getItem(storageKey) || "null");
      if (saved && Array.isArray(saved.messages)) return saved;
    } catch (e) {
      /* storage unavailable or corrupt: start afresh */
    }
    return { token: null, messages: [], open: false };
  }

  function save() {
    try {
      state.messages = state.messages.slice(-200);
      window.sessionStorage.setItem(storageKey, JSON.stringify(state));
    } catch (e) {
      /* private browsing with storage off: the chat still works until reload */
    }
  }

  // --- building the page -----------------------------------------------------------

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      if (name === "text") node.textContent = attributes[name];
      else node.setAttribute(name, attributes[name]);
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  var stylesheet = el("link", { rel: "stylesheet", href: new URL("widget.css", script.src).href });
  document.head.appendChild(stylesheet);

  var launcher = el("button", {
    type: "button",
    class: "ca-launcher",
    "aria-expanded": "false",
    "aria-controls": "council-assistant-panel",
    text: title,
  });
  var closeButton = el("button", { type: "button", class: "ca-close", text: "Close" });
  closeButton.appendChild(el("span", { class: "ca-visually-hidden", text: " the chat" }));
  var log = el("div", {
    class: "ca-log",
    role: "log",
    "aria-live": "polite",
    "aria-label": "Conversation with the digital assistant",
    tabindex: "0",
  });
  var status = el("p", { class: "ca-status", role: "status" });
  var input = el("input", {
    id: "council-assistant-input",
    class: "ca-input",
    type: "text",
    name: "message",
    autocomplete: "off",
    maxlength: "1000",
  });
  var form = el("form", { class: "ca-form", novalidate: "" }, [
    el("label", { class: "ca-label", for: "council-assistant-input", text: "Type your message" }),
    el("div", { class: "ca-form__row" }, [input, el("button", { type: "submit", class: "ca-button", text: "Send" })]),
  ]);
  var personButton = el("button", {
    type: "button",
    class: "ca-button ca-button--secondary",
    text: "Talk to a person",
  });
  var restartButton = el("button", {
    type: "button",
    class: "ca-button ca-button--secondary",
    text: "Start again",
  });
  var panel = el("section", { id: "council-assistant-panel", class: "ca-panel", "aria-labelledby": "council-assistant-title" }, [
    el("div", { class: "ca-panel__header" }, [
      el("h2", { id: "council-assistant-title", class: "ca-panel__title", text: title }),
      closeButton,
    ]),
    el("p", {
      class: "ca-panel__intro",
      text: "I'm " + council + "'s digital assistant. I can help with bins, council tax, " +
        "leisure bookings and libraries. Please don't type bank or card details here.",
    }),
    log,
    status,
    form,
    el("div", { class: "ca-actions" }, [personButton, restartButton]),
  ]);
  panel.hidden = true;
  var root = el("aside", { id: "council-assistant", class: "ca-chat", "aria-label": "Chat with " + council }, [
    launcher,
    panel,
  ]);

  // --- rendering messages ----------------------------------------------------------

  /* Text with links and references marked up, built as nodes: never as HTML. */
  function richText(text) {
    var fragment = document.createDocumentFragment();
    var pieces = [];
    text.replace(LINK, function (url, at) {
      pieces.push({ at: at, end: at + url.length, url: url });
    });
    var cursor = 0;
    pieces.forEach(function (piece) {
      appendWithReferences(fragment, text.slice(cursor, piece.at));
      fragment.appendChild(link(piece.url));
      cursor = piece.end;
    });
    appendWithReferences(fragment, text.slice(cursor));
    return fragment;
  }

  function appendWithReferences(parent, text) {
    var cursor = 0;
    text.replace(REFERENCE, function (reference, at) {
      appendLines(parent, text.slice(cursor, at));
      parent.appendChild(el("strong", { class: "ca-reference", text: reference.toUpperCase() }));
      cursor = at + reference.length;
    });
    appendLines(parent, text.slice(cursor));
  }

  function appendLines(parent, text) {
    text.split("\n").forEach(function (line, index) {
      if (index) parent.appendChild(el("br"));
      if (line) parent.appendChild(document.createTextNode(line));
    });
  }

  function isPaymentLink(url) {
    try {
      var parsed = new URL(url);
      return /(^|\.)payments\.service\.gov\.uk$/.test(parsed.hostname) || /^\/(pay|secure)\//.test(parsed.pathname);
    } catch (e) {
      return false;
    }
  }

  function link(url) {
    if (isPaymentLink(url)) {
      return el("a", { class: "ca-button ca-pay", href: url }, [
        "Pay now",
        el("span", { class: "ca-visually-hidden", text: " (GOV.UK Pay, a secure payment page)" }),
      ]);
    }
    return el("a", { class: "ca-link", href: url, text: url });
  }

  function messageNode(message) {
    var mine = message.from === "you";
    var node = el("div", { class: "ca-message ca-message--" + (mine ? "you" : "assistant") }, [
      el("span", { class: "ca-visually-hidden", text: mine ? "You said: " : "Assistant said: " }),
    ]);
    message.text.split(/\n{2,}/).forEach(function (paragraph) {
      var p = el("p", { class: "ca-message__text" });
      p.appendChild(richText(paragraph));
      node.appendChild(p);
    });
    if (message.buttons && message.buttons.length && message.live) {
      var list = el("ul", { class: "ca-options", "aria-label": "Options" });
      message.buttons.forEach(function (button) {
        var option = el("button", { type: "button", class: "ca-option", text: button.title });
        option.addEventListener("click", function () {
          choose(button);
        });
        list.appendChild(el("li", {}, [option]));
      });
      node.appendChild(list);
    }
    return node;
  }

  function show(message) {
    log.appendChild(messageNode(message));
    log.scrollTop = log.scrollHeight;
  }

  function redraw() {
    while (log.firstChild) log.removeChild(log.firstChild);
    state.messages.forEach(show);
  }

  function add(message) {
    state.messages.push(message);
    save();
    show(message);
  }

  /* Options can be pressed only until the resident answers. */
  function retireOptions() {
    var had = false;
    state.messages.forEach(function (message) {
      if (message.live) had = true;
      message.live = false;
    });
    Array.prototype.forEach.call(log.querySelectorAll(".ca-options"), function (list) {
      list.parentNode.removeChild(list);
    });
    return had;
  }

  // --- talking to the assistant -----------------------------------------------------

  function post(path, body) {
    return window
      .fetch(assistantUrl + "/webhooks/webchat/" + path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        credentials: "omit",
      })
      .then(function (response) {
        return response.json().then(
          function (data) {
            return { status: response.status, data: data };
          },
          function () {
            return { status: response.status, data: {} };
          }
        );
      });
  }

  function session() {
    if (state.token) return Promise.resolve(state.token);
    return post("session", {}).then(function (reply) {
      if (reply.status !== 201) throw new Error("no session");
      state.token = reply.data.conversation;
      save();
      return state.token;
    });
  }

  function send(body, shown) {
    if (busy) return;
    busy = true;
    retireOptions();
    add({ from: "you", text: shown });
    typing(true);
    session()
      .then(function (token) {
        return post("message", Object.assign({ conversation: token }, body));
      })
      .then(function (reply) {
        if (reply.status === 401) {
          state.token = null;
          save();
          throw new Error("expired");
        }
        if (reply.status === 409) return say("That option is no longer available. Please type your answer.");
        if (reply.status === 429) return say("You've sent a lot of messages quickly. Please wait a minute.");
        if (reply.status !== 200) throw new Error("status " + reply.status);
        var messages = reply.data.messages || [];
        if (!messages.length) say("Sorry, I don't have an answer for that. You can ask to talk to a person.");
        messages.forEach(function (message) {
          if (message.text) add({ from: "assistant", text: message.text, buttons: message.buttons || [], live: true });
          if (message.image) add({ from: "assistant", text: message.image });
        });
      })
      .catch(function (error) {
        say(
          error && error.message === "expired"
            ? "Sorry, this chat had expired. Please send your message again to start a new one."
            : "Sorry, I couldn't reach the assistant. Please try again in a moment."
        );
      })
      .then(function () {
        typing(false);
        busy = false;
      });
  }

  function say(text) {
    add({ from: "assistant", text: text });
  }

  function typing(on) {
    root.classList.toggle("ca-chat--typing", on);
    status.textContent = on ? "The assistant is typing…" : "";
  }

  function choose(button) {
    var focusInput = document.activeElement && document.activeElement.classList.contains("ca-option");
    send({ choice: button.choice }, button.title);
    if (focusInput) input.focus();
  }

  // --- opening, closing, starting again ---------------------------------------------------

  function setOpen(open, focus) {
    state.open = open;
    save();
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    root.classList.toggle("ca-chat--open", open);
    if (open) {
      log.scrollTop = log.scrollHeight;
      if (focus) input.focus();
    } else if (focus) {
      launcher.focus();
    }
  }

  launcher.addEventListener("click", function () {
    setOpen(panel.hidden, true);
  });
  closeButton.addEventListener("click", function () {
    setOpen(false, true);
  });
  root.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !panel.hidden) {
      event.preventDefault();
      setOpen(false, true);
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text || busy) return;
    input.value = "";
    send({ text: text }, text);
  });
  personButton.addEventListener("click", function () {
    send({ text: "Talk to a person" }, "Talk to a person");
    input.focus();
  });
  restartButton.addEventListener("click", function () {
    if (busy) return;
    state = { token: null, messages: [], open: true };
    save();
    redraw();
    status.textContent = "Started a new conversation.";
    input.focus();
  });

  redraw();
  document.body.appendChild(root);
  setOpen(Boolean(state.open), false);
})();
