// squall live reload: served at <mount>/client.js, listens at <mount>/.
(() => {
  // The page's one EventSource (a test can wait for readyState 1, OPEN).
  if (window.__squallLiveReload) return;
  const script = document.currentScript;
  const events = new URL("./", script ? script.src : location.origin + "/__live/");
  let opened = false;
  let lost = false;
  const swap = (path) => {
    const links = [...document.querySelectorAll('link[rel~="stylesheet"]')];
    let hits = links.filter((l) => new URL(l.href, location.href).pathname === path);
    // A file the page does not link itself (an @import): refresh its own stylesheets.
    if (!hits.length) {
      hits = links.filter((l) => new URL(l.href, location.href).origin === location.origin);
    }
    for (const link of hits) {
      const url = new URL(link.href, location.href);
      url.searchParams.set("live", Date.now().toString(36));
      link.href = url.pathname + url.search;
    }
  };
  const source = new EventSource(events);
  window.__squallLiveReload = source;
  source.addEventListener("open", () => {
    // Back after the server went away: it may run new code, so reload.
    if (lost) location.reload();
    opened = true;
  });
  source.addEventListener("error", () => {
    if (opened) lost = true;
  });
  source.addEventListener("css", (e) => swap(e.data));
  source.addEventListener("reload", () => location.reload());
})();
