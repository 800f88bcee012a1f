// A model's answer as it streams: Markdown rendered, sanitised and highlighted, with a collapsible
// "Thinking" block for reasoning tokens and copy buttons. Nothing a model writes may run script
// or load anything: raw HTML shows as text, DOMPurify keeps only the Markdown elements, links go
// to http(s)/mailto only and open in a new tab, images become links.
"use strict";

const Answer = (() => {
  const THROTTLE_MS = 100;  // re-render at most this often while streaming...
  const HIGHLIGHT_LIVE_LIMIT = 20000;  // ...and highlight the growing tail only while it is small
  const BLOCKS_PER_FRAME = 32768;  // characters of finished blocks rendered in one frame, at most

  const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  const markdown = new marked.Marked({
    gfm: true,
    async: false,
    renderer: {
      // Raw HTML in an answer is text, whatever it says.
      html: (token) => escapeHtml(token.text),
      // An image would load from wherever the model points: show a link to it instead.
      image: (token) => `<a href="${escapeHtml(token.href)}">${escapeHtml(token.text || token.href)}</a>`,
    },
  });

  const PURIFY = {
    ALLOWED_TAGS: ["a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
      "h6", "hr", "input", "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th",
      "thead", "tr", "ul"],
    ALLOWED_ATTR: ["href", "title", "class", "align", "start", "type", "checked", "disabled"],
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
    ALLOW_DATA_ATTR: false,
    RETURN_DOM_FRAGMENT: true,
  };
  // The hooks are global to DOMPurify; this page uses it only here.
  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A") {
      if (node.hasAttribute("href")) {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer nofollow");
      }
    } else if (node.tagName === "INPUT") {
      // Only a task list's ticked or empty box, never a field.
      if (node.getAttribute("type") !== "checkbox") node.remove();
      else node.setAttribute("disabled", "");
    }
    // Classes only as marked writes them, for highlight.js: a model cannot borrow the panel's.
    const cls = node.getAttribute("class");
    if (cls !== null && !(node.tagName === "CODE" && /^language-[\w+#.-]+$/.test(cls))) {
      node.removeAttribute("class");
    }
  });

  // Code blocks: highlighted (classes only) when the language is known, with a Copy button.
  function decorate(fragment, highlight) {
    for (const code of fragment.querySelectorAll("pre > code")) {
      const language = (code.className.match(/^language-(.+)$/) || [])[1];
      if (highlight && language && hljs.getLanguage(language)) hljs.highlightElement(code);
      else code.classList.add("hljs");
      const pre = code.parentElement;
      const box = document.createElement("div");
      box.className = "md-code";
      const copy = document.createElement("button");
      copy.type = "button";
      copy.className = "md-copy small";
      copy.textContent = "Copy";
      pre.replaceWith(box);
      box.append(copy, pre);
    }
    return fragment;
  }

  // Markdown text to a sanitised fragment, ready for the page.
  function render(text, highlight = true) {
    return decorate(DOMPurify.sanitize(markdown.parse(text), PURIFY), highlight);
  }

  // Where finished blocks end: after a blank line outside any code fence, before a line that
  // starts at the margin (so an indented continuation stays with its list). Scans each line
  // once, so a long answer costs no more per chunk than a short one. Returns every boundary
  // so far, in order (the same array, growing).
  function blockSplitter() {
    let scanned = 0, fence = null, blank = false;
    const boundaries = [];
    return (text) => {
      for (;;) {
        const end = text.indexOf("\n", scanned);
        if (end < 0) break;
        const line = text.slice(scanned, end);
        const marker = line.trimStart().match(/^(`{3,}|~{3,})(.*)$/);
        if (fence) {
          if (marker && marker[1][0] === fence[0] && marker[1].length >= fence.length && !marker[2].trim()) fence = null;
        } else {
          if (blank && /^\S/.test(line)) boundaries.push(scanned);
          if (marker && !(marker[1][0] === "`" && marker[2].includes("`"))) fence = marker[1];
        }
        blank = !fence && line.trim() === "";
        scanned = end + 1;
      }
      return boundaries;
    };
  }

  // One answer in `root`: the Thinking block, the rendered Markdown and its Copy button.
  // reasoning(text) and content(text) add to it; finish() renders what is left.
  function view(root) {
    const part = (selector) => root.querySelector(selector);
    const thinking = part(".answer-thinking");
    const output = part(".answer-output");
    const frozen = document.createElement("div");  // finished blocks, rendered once
    const tail = document.createElement("div");    // the block still growing, re-rendered
    output.replaceChildren(frozen, tail);
    const split = blockSplitter();
    let text = "", done = 0, next = 0, timer = null, last = 0, cost = 0, finished = false;
    let thought = "", thoughtTokens = 0, thoughtFirst = null, thoughtLast = null;

    // Renders the finished blocks not rendered yet, a frame's worth at a time (at least one
    // block), then the growing tail once they have caught up with the stream.
    function flush() {
      timer = null;
      const started = performance.now();
      const boundaries = split(text);
      let upTo = done;
      while (next < boundaries.length && (upTo === done || boundaries[next] - done <= BLOCKS_PER_FRAME)) {
        upTo = boundaries[next++];
      }
      if (upTo > done) {
        frozen.append(render(text.slice(done, upTo)));
        done = upTo;
      }
      const behind = next < boundaries.length;
      if (behind) {
        tail.replaceChildren();
      } else {
        const rest = text.slice(done);
        tail.replaceChildren(render(rest, finished || rest.length < HIGHLIGHT_LIVE_LIMIT));
      }
      last = performance.now();
      cost = last - started;
      output.scrollTop = output.scrollHeight;
      if (behind) schedule(true);
    }

    function schedule(catchingUp = false) {
      if (timer !== null) return;
      // A slow render waits longer, so rendering never takes the page over; blocks already
      // finished go on at the next frame.
      const wait = catchingUp ? 0 : Math.max(THROTTLE_MS, 2 * cost) - (performance.now() - last);
      timer = setTimeout(() => requestAnimationFrame(() => flush()), Math.max(0, wait));
    }

    function showThinking() {
      const seconds = thoughtFirst === null ? 0 : (thoughtLast - thoughtFirst) / 1000;
      part(".answer-thinking-tokens").textContent = `${thoughtTokens} token${thoughtTokens === 1 ? "" : "s"}`;
      part(".answer-thinking-time").textContent = `${seconds.toFixed(1)} s`;
    }

    output.addEventListener("click", (event) => {
      const button = event.target.closest(".md-copy");
      // marked ends a block's code with a newline of its own.
      if (button) copyText(button, button.parentElement.querySelector("code").textContent.replace(/\n$/, ""));
    });
    part(".answer-copy").addEventListener("click", (event) => copyText(event.currentTarget, text));

    return {
      reasoning(chunk) {
        thoughtLast = performance.now();
        if (thoughtFirst === null) {
          thoughtFirst = thoughtLast;
          thinking.hidden = false;
          thinking.open = true;
        }
        thought += chunk;
        thoughtTokens += 1;
        part(".answer-thinking-text").textContent = thought;
        showThinking();
      },
      content(chunk) {
        // The answer has started: the thinking folds away, still there to open.
        if (text === "" && thoughtFirst !== null) thinking.open = false;
        text += chunk;
        part(".answer-copy").hidden = false;
        schedule();
      },
      finish() {
        if (timer !== null) clearTimeout(timer);
        finished = true;
        flush();
      },
      // A saved answer: its text and reasoning at once, the Thinking block folded.
      restore(content, reasoningText) {
        if (reasoningText) {
          thought = reasoningText;
          thinking.hidden = false;
          thinking.open = false;
          part(".answer-thinking summary").textContent = "Thinking";
          part(".answer-thinking-text").textContent = thought;
        }
        text = content;
        part(".answer-copy").hidden = !content;
        this.finish();
      },
      get reasoningText() { return thought; },
      get text() { return text; },
    };
  }

  async function copyText(button, text) {
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch (e) {
      button.textContent = "Copy failed";
    }
    setTimeout(() => { button.textContent = label; }, 1500);
  }

  return { view, render };
})();
