// The language switch in the menu bar. The English book is built at the book's root and the
// Portuguese (Brazil) one under `pt-BR/` (`just book`), page for page, so the same page in the
// other language is the same relative path under the other root.
(function () {
    "use strict";
    const languages = [
        ["en", "English"],
        ["pt-BR", "Português (Brasil)"],
    ];
    const here = document.documentElement.lang || "en";
    const root = new URL(typeof path_to_root === "string" ? path_to_root : "./", location.href);
    const page = location.href.startsWith(root.href) ? location.href.slice(root.href.length) : "";
    const bookRoot = here === "en" ? root : new URL("../", root);
    const buttons = document.querySelector(".right-buttons");
    if (!buttons) {
        return;
    }
    for (const [code, name] of languages) {
        if (code === here) {
            continue;
        }
        const link = document.createElement("a");
        link.href = new URL((code === "en" ? "" : code + "/") + page, bookRoot).href;
        link.hreflang = code;
        link.lang = code;
        link.title = name;
        link.className = "language-switch";
        link.textContent = code === "en" ? "EN" : "PT";
        link.setAttribute("aria-label", name);
        buttons.prepend(link);
    }
})();
