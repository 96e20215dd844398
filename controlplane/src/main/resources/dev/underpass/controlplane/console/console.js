// The Underpass web console (ADR 26): plain ES modules, no build step, no third-party code.
// Every read and change goes through the REST API under /v1 with the session cookie; changes carry
// the session's CSRF token. The page never builds HTML from text: data goes into text nodes only.

const POLL_MS = 3000;
let session = null; // {csrf, whoami}
let lastShown = "";

const $ = (id) => document.getElementById(id);

/** An element with attributes (on* are listeners) and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function status(text) {
  $("status").textContent = text;
}

function can(scope) {
  return session !== null && session.whoami.scopes.includes(scope);
}

class Problem extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

/** Calls the API; a change carries the CSRF token. A 401 ends the session in the page. */
async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (method !== "GET") headers["underpass-csrf"] = session ? session.csrf : "";
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  const json = text ? JSON.parse(text) : null;
  if (!r.ok) {
    if (r.status === 401 && path !== "/console/session") signedOut("Your session ended: sign in again.");
    throw new Problem(r.status, (json && json.detail) || r.statusText);
  }
  return json;
}

async function change(what, method, path, body) {
  try {
    const result = await api(method, path, body);
    status(what + ": done.");
    lastShown = "";
    await show();
    return result;
  } catch (e) {
    status(what + " failed: " + e.message);
    return null;
  }
}

// --- sign-in ---------------------------------------------------------------------------------

function signedOut(message) {
  session = null;
  $("nav").hidden = true;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  $("view").replaceChildren();
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message || "";
  $("api-key").focus();
}

function signedIn(s) {
  session = s;
  $("sign-in").hidden = true;
  $("api-key").value = "";
  $("nav").hidden = false;
  $("sign-out").hidden = false;
  const w = s.whoami;
  $("who").textContent = `${w.user} @ ${w.account} (${w.role})`;
  lastShown = "";
  if (!location.hash) location.hash = "#/overview";
  show();
}

$("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    signedIn(await api("POST", "/console/session", { apiKey: $("api-key").value }));
  } catch (e) {
    $("sign-in-error").textContent = "Sign-in failed: " + e.message;
  }
});

$("sign-out").addEventListener("click", async () => {
  try {
    await api("DELETE", "/console/session");
  } finally {
    signedOut("Signed out.");
  }
});

// --- pages -----------------------------------------------------------------------------------

/** Shows the page the address names; re-drawn only when what it shows changed, so focus stays. */
async function show() {
  if (session === null) return;
  const hash = location.hash || "#/overview";
  for (const a of document.querySelectorAll("#nav a")) {
    a.toggleAttribute("aria-current", hash.startsWith(a.getAttribute("href")));
    if (a.hasAttribute("aria-current")) a.setAttribute("aria-current", "page");
  }
  for (const [pattern, page] of pages) {
    const m = hash.match(pattern);
    if (m) {
      try {
        const data = await page.load(...m.slice(1));
        const key = hash + JSON.stringify(data);
        if (key !== lastShown) {
          lastShown = key;
          const focused = document.activeElement && document.activeElement.id;
          $("view").replaceChildren(page.draw(data, ...m.slice(1)));
          if (focused && $(focused)) $(focused).focus();
        }
      } catch (e) {
        if (session !== null) status("Could not load this page: " + e.message);
      }
      return;
    }
  }
  $("view").replaceChildren(el("p", {}, "No such page."));
}

function table(headings, rows) {
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows),
  );
}

function stateCell(state) {
  return el("td", { class: "state-" + state }, state);
}

const endpointsPage = {
  async load() {
    const [mine, requests, offers] = await Promise.all([
      can("endpoints:read") ? api("GET", "/v1/endpoints") : { items: [] },
      can("endpoints:read") ? api("GET", "/v1/endpoints?side=provider") : { items: [] },
      can("services:read") ? api("GET", "/v1/service-offers") : { items: [] },
    ]);
    return { mine: mine.items, requests: requests.items, offers: offers.items };
  },
  draw({ mine, requests, offers }) {
    const decide = can("connections:decide");
    const request = can("endpoints:write") && offers.length > 0;
    return el(
      "div",
      {},
      el("h1", {}, "Endpoints"),
      el(
        "section",
        { class: "card", "aria-labelledby": "requests-heading" },
        el("h2", { id: "requests-heading" }, "Requests to my services"),
        requests.length === 0
          ? el("p", {}, "No endpoint connects to your services.")
          : table(
              ["Endpoint", "Consumer", "Service", "State", decide ? "Decision" : null].filter(Boolean),
              requests.map((e) =>
                el(
                  "tr",
                  { "data-endpoint": e.id },
                  el("td", {}, e.id),
                  el("td", {}, e.account),
                  el("td", {}, e.service),
                  stateCell(e.state),
                  decide
                    ? el(
                        "td",
                        {},
                        e.state === "pendingAcceptance"
                          ? [
                              el("button", { id: "accept-" + e.id, type: "button",
                                onclick: () => change("Accept " + e.id, "POST", `/v1/endpoints/${e.id}/accept`, {}) },
                                "Accept"),
                              " ",
                              el("button", { id: "reject-" + e.id, type: "button",
                                onclick: () => change("Reject " + e.id, "POST", `/v1/endpoints/${e.id}/reject`, {}) },
                                "Reject"),
                            ]
                          : "",
                      )
                    : null,
                ),
              ),
            ),
      ),
      el(
        "section",
        { class: "card", "aria-labelledby": "mine-heading" },
        el("h2", { id: "mine-heading" }, "My endpoints"),
        mine.length === 0
          ? el("p", {}, "You have no endpoints.")
          : table(
              ["Endpoint", "Service", "State"],
              mine.map((e) =>
                el(
                  "tr",
                  { "data-endpoint": e.id },
                  el("td", {}, el("a", { href: "#/endpoints/" + e.id }, e.id)),
                  el("td", {}, e.service),
                  stateCell(e.state),
                ),
              ),
            ),
        request ? requestForm(offers) : null,
      ),
    );
  },
};

function requestForm(offers) {
  const form = el(
    "form",
    { id: "request-form" },
    el("label", { for: "offer" }, "Service offered to you "),
    el("select", { id: "offer", name: "offer" },
      offers.map((o) => el("option", { value: o.reference }, `${o.reference} — ${o.description || ""}`))),
    " ",
    el("button", { id: "request", type: "submit" }, "Request an endpoint"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    change("Request " + $("offer").value, "POST", "/v1/endpoints", { service: $("offer").value });
  });
  return form;
}

const endpointPage = {
  async load(id) {
    const [endpoint, listeners, gateway] = await Promise.all([
      api("GET", "/v1/endpoints/" + id),
      api("GET", `/v1/endpoints/${id}/agent-listeners`),
      api("GET", "/v1/gateway").catch(() => ({})),
    ]);
    return { endpoint, listeners: listeners.items, proxy: gateway.proxy || null, test: testResults.get(id) || null };
  },
  draw({ endpoint: e, listeners, proxy, test }) {
    const ports = e.ports || [];
    return el(
      "div",
      {},
      el("h1", {}, "Endpoint ", e.id),
      el(
        "section",
        { class: "card" },
        el("p", {}, "Service ", el("strong", {}, e.service), " — state ",
          el("span", { id: "endpoint-state", class: "state-" + e.state }, e.state),
          e.stateReason ? ` (${e.stateReason})` : ""),
        el("h2", {}, "How to connect"),
        ports.length === 0
          ? el("p", {}, "No port takes connections yet.")
          : table(
              ["Service port", "Connect to", "Example"],
              ports.map((p) =>
                el("tr", {}, el("td", {}, p.servicePort), el("td", {}, el("code", {}, p.address || "—")),
                  el("td", {}, el("code", {}, p.address ? `nc ${p.address.replace(/:(\d+)$/, " $1")}` : ""))),
              ),
            ),
        (e.dnsNames || []).length > 0 ? el("p", {}, "DNS names: ", (e.dnsNames || []).join(", ")) : null,
        proxy && (e.dnsNames || []).length > 0 && ports.length > 0
          ? [el("p", {}, "Through the forward proxy, with an API key of this account that may connect:"),
             el("pre", { id: "proxy-env" },
               `eval "$(underpass env --key-file KEY_FILE --account ${session.whoami.account})"   # or by hand:\n`
               + `export http_proxy=http://underpass:API_KEY@${proxy} https_proxy=http://underpass:API_KEY@${proxy}\n`
               + `curl ${ports[0].servicePort === 443 ? "https" : "http"}://${e.dnsNames[0]}:${ports[0].servicePort}/`
               + "   # git clone, ssh -o ProxyCommand=... alike")]
          : null,
        listeners.length > 0
          ? [el("h2", {}, "Agent listeners"),
             table(["Agent", "Node", "Listens on", "Port", "State"],
               listeners.map((l) => el("tr", {}, el("td", {}, l.agent), el("td", {}, l.node), el("td", {}, l.address),
                 el("td", {}, l.servicePort), el("td", {}, l.open ? "open" : "closed: " + (l.reason || ""))))),
            ]
          : null,
      ),
      (e.events || []).length > 0
        ? el("section", { class: "card", "aria-labelledby": "history-heading" },
            el("h2", { id: "history-heading" }, "History"),
            table(["At", "State", "By", "Reason"], e.events.map((ev) => el("tr", {},
              el("td", {}, ev.at), el("td", {}, (ev.from ? ev.from + " → " : "") + ev.to), el("td", {}, ev.actor),
              el("td", {}, ev.reason || "")))))
        : null,
      el(
        "section",
        { class: "card", "aria-labelledby": "test-heading" },
        el("h2", { id: "test-heading" }, "Test connection"),
        el("button", { id: "test-connection", type: "button", onclick: () => runTest(e.id) }, "Test connection"),
        test ? testTable(test) : null,
      ),
    );
  },
};

/** The last per-hop verdicts of each endpoint's test, kept while the page is open. */
const testResults = new Map();

async function runTest(id) {
  try {
    const d = await api("GET", `/v1/endpoints/${id}/diagnosis`);
    const hops = [["endpoint is available", d.state === "available", d.stateReason || d.state]];
    for (const p of d.ports || []) {
      hops.push([`port ${p.servicePort}: an agent serves it`, p.agentSessions > 0,
        `${p.agentSessions} agent session(s)`]);
      const health = p.targetHealth || {};
      const counts = Object.entries(health).map(([state, n]) => `${n} ${state}`).join(", ");
      hops.push([`port ${p.servicePort}: a target is not unhealthy`,
        Object.entries(health).some(([state, n]) => state !== "unhealthy" && n > 0) || !health.unhealthy,
        counts || "no health reports"]);
    }
    testResults.set(id, hops);
    status("Test connection: " + (hops.every((h) => h[1]) ? "pass" : "FAIL"));
  } catch (e) {
    testResults.set(id, [["the gateway answers", false, e.message]]);
    status("Test connection failed: " + e.message);
  }
  lastShown = "";
  show();
}

function testTable(hops) {
  return table(["Hop", "Verdict", "Detail"],
    hops.map(([hop, ok, detail]) => el("tr", {}, el("td", {}, hop),
      el("td", { class: ok ? "pass verdict" : "fail verdict" }, ok ? "pass" : "FAIL"), el("td", {}, detail))));
}

const servicesPage = {
  async load() {
    return can("services:read") ? (await api("GET", "/v1/services")).items : [];
  },
  draw(services) {
    return el(
      "div",
      {},
      el("h1", {}, "Services"),
      el(
        "section",
        { class: "card" },
        services.length === 0
          ? el("p", {}, "You publish no services.")
          : table(
              ["Name", "Listeners", "Allowed accounts", "Acceptance", "Private DNS name"],
              services.map((s) =>
                el("tr", { "data-service": s.name },
                  el("td", {}, s.name),
                  el("td", {}, (s.listeners || []).map((l) => `${l.port} → ${l.targets.join(", ")}`).join("; ")),
                  el("td", {}, (s.allowedPrincipals || []).join(", ")),
                  el("td", {}, s.acceptanceRequired ? "required" : "automatic"),
                  el("td", {}, privateDns(s))),
              ),
            ),
      ),
      can("services:write") && services.length > 0 ? serviceEditForm(services) : null,
      can("services:write") ? serviceForm() : null,
    );
  },
};

/** A service's private DNS name: its state, and the TXT record that proves it until verified. */
function privateDns(s) {
  const d = s.privateDns;
  if (!d) return "—";
  return [
    `${d.name} (${d.state})`,
    d.state === "verified" ? "" : [
      el("br"), "TXT ", el("code", {}, d.verificationRecord), " = ", el("code", {}, d.verificationValue), " ",
      can("services:write") ? el("button", { id: "verify-" + s.name, type: "button",
        onclick: () => change("Verify " + d.name, "POST", `/v1/services/${encodeURIComponent(s.name)}/verify-private-dns`) },
        "Verify") : null,
    ],
  ];
}

/** Edits who may connect to a service and whether their requests wait for acceptance. */
function serviceEditForm(services) {
  const form = el(
    "form",
    { id: "service-edit-form", class: "card" },
    el("h2", {}, "Change a service"),
    el("label", { for: "edit-service" }, "Service"),
    el("select", { id: "edit-service" }, services.map((s) => el("option", { value: s.name }, s.name))),
    el("label", { for: "edit-allow" }, "Allowed accounts (comma-separated; * for any)"),
    el("input", { id: "edit-allow", value: (services[0].allowedPrincipals || []).join(", ") }),
    el("label", {}, el("input", { id: "edit-acceptance", type: "checkbox", checked: services[0].acceptanceRequired }),
      " Requests wait for acceptance"),
    el("button", { id: "save-service", type: "submit" }, "Save"),
  );
  form.querySelector("#edit-service").addEventListener("change", (event) => {
    const s = services.find((x) => x.name === event.target.value);
    $("edit-allow").value = (s.allowedPrincipals || []).join(", ");
    $("edit-acceptance").checked = s.acceptanceRequired;
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("edit-service").value;
    change("Change " + name, "PATCH", "/v1/services/" + encodeURIComponent(name), {
      allowedPrincipals: $("edit-allow").value.split(",").map((a) => a.trim()).filter(Boolean),
      acceptanceRequired: $("edit-acceptance").checked,
    });
  });
  return form;
}

function serviceForm() {
  const form = el(
    "form",
    { id: "service-form", class: "card" },
    el("h2", {}, "Publish a service"),
    el("label", { for: "service-name" }, "Name"),
    el("input", { id: "service-name", required: true }),
    el("label", { for: "service-port" }, "Port consumers connect to"),
    el("input", { id: "service-port", type: "number", min: 1, max: 65535, required: true }),
    el("label", { for: "service-target" }, "Target in your network (host:port)"),
    el("input", { id: "service-target", required: true }),
    el("label", { for: "service-allow" }, "Allowed accounts (comma-separated)"),
    el("input", { id: "service-allow" }),
    el("button", { id: "publish", type: "submit" }, "Publish"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const allow = $("service-allow").value.split(",").map((a) => a.trim()).filter(Boolean);
    change("Publish " + $("service-name").value, "POST", "/v1/services", {
      name: $("service-name").value,
      listeners: [{ port: Number($("service-port").value), targets: [$("service-target").value] }],
      allowedPrincipals: allow,
    });
  });
  return form;
}

const agentsPage = {
  async load() {
    return can("agent-tokens:read") ? (await api("GET", "/v1/agent-tokens")).items : [];
  },
  draw(tokens) {
    return el(
      "div",
      {},
      el("h1", {}, "Agents"),
      el(
        "section",
        { class: "card" },
        el("h2", {}, "Agent tokens"),
        tokens.length === 0
          ? el("p", {}, "No agent tokens.")
          : table(["Name", "Prefix", "Status", "Last used", can("agent-tokens:write") ? "" : null]
              .filter((h) => h !== null),
              tokens.map((t) => el("tr", { "data-token": t.id }, el("td", {}, t.name), el("td", {}, el("code", {}, t.prefix)),
                el("td", {}, t.status), el("td", {}, t.lastUsedAt || "never"),
                can("agent-tokens:write") ? el("td", {}, t.status === "active"
                  ? el("button", { id: "revoke-" + t.id, type: "button",
                      onclick: () => change("Revoke " + t.name, "DELETE", "/v1/agent-tokens/" + t.id) }, "Revoke")
                  : "") : null))),
      ),
      can("agent-tokens:write") ? addAgent() : null,
    );
  },
};

/**
 * Add an agent: a new token, shown once inside the one command to paste in the private network
 * (the gateway's agent address and CA pin filled in), then gone from the page; the page says when
 * the agent has connected with it.
 */
function addAgent() {
  const out = el("div", { id: "new-agent", "aria-live": "polite" });
  const form = el(
    "form",
    { id: "agent-form", class: "card" },
    el("h2", {}, "Add an agent"),
    el("label", { for: "agent-name" }, "Agent name"),
    el("input", { id: "agent-name", required: true }),
    el("button", { id: "create-agent", type: "submit" }, "Create token"),
    out,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let created;
    let gateway;
    try {
      gateway = await api("GET", "/v1/gateway").catch(() => ({}));
      created = await api("POST", "/v1/agent-tokens", { name: $("agent-name").value });
    } catch (e) {
      status("Add an agent failed: " + e.message);
      return;
    }
    stopPolling(); // the secret stays until the user says it is copied
    const trust = gateway.caPin ? `--pin ${gateway.caPin}` : "--ca-file ca.pem";
    const command = `UNDERPASS_AGENT_TOKEN=${created.token} underpass agent `
      + `--gateway ${gateway.agents || location.hostname + ":8443"} ${trust} --target HOST:PORT`;
    const connected = el("p", { id: "agent-connected", role: "status" }, "Waiting for the agent to connect…");
    const watch = setInterval(async () => {
      try {
        const tokens = (await api("GET", "/v1/agent-tokens")).items;
        const mine = tokens.find((t) => t.id === created.agentToken.id);
        if (mine && mine.lastUsedAt) {
          connected.textContent = `Agent ${mine.name} connected at ${mine.lastUsedAt}.`;
          connected.className = "pass";
          clearInterval(watch);
        }
      } catch (e) {
        clearInterval(watch);
      }
    }, 2000);
    out.replaceChildren(
      el("p", {}, "Run this in the private network (replace HOST:PORT with what the agent may reach). "
        + "Copy it now: the token is not shown again."),
      el("pre", { id: "agent-command" }, command),
      connected,
      el("button", { id: "agent-done", type: "button",
        onclick: () => { clearInterval(watch); out.replaceChildren(); startPolling(); lastShown = ""; show(); } },
        "Done, I copied it"),
    );
    $("agent-done").focus();
  });
  return form;
}

const overviewPage = {
  async load() {
    const [mine, requests, services, nodes] = await Promise.all([
      can("endpoints:read") ? api("GET", "/v1/endpoints") : { items: [] },
      can("endpoints:read") ? api("GET", "/v1/endpoints?side=provider") : { items: [] },
      can("services:read") ? api("GET", "/v1/services") : { items: [] },
      can("accounts:read") ? api("GET", "/v1/nodes") : null,
    ]);
    const health = await Promise.all(
      services.items.map((svc) => api("GET", `/v1/services/${encodeURIComponent(svc.name)}/health`)));
    return { mine: mine.items, requests: requests.items, health, nodes: nodes && nodes.items };
  },
  draw({ mine, requests, health, nodes }) {
    const waiting = requests.filter((e) => e.state === "pendingAcceptance");
    const byState = {};
    for (const e of mine) byState[e.state] = (byState[e.state] || 0) + 1;
    const unhealthy = health.flatMap((h) => h.targets.filter((t) => t.state === "unhealthy")
      .map((t) => ({ service: h.service, ...t })));
    return el(
      "div",
      {},
      el("h1", {}, "Overview"),
      el("section", { class: "card", "aria-labelledby": "waiting-heading" },
        el("h2", { id: "waiting-heading" }, "Waiting for you"),
        el("p", { id: "waiting" }, waiting.length === 0
          ? "No connection request waits for your decision."
          : [`${waiting.length} connection request(s) wait for your decision: `,
             el("a", { href: "#/endpoints" }, "decide on the Endpoints page"), "."])),
      el("section", { class: "card", "aria-labelledby": "states-heading" },
        el("h2", { id: "states-heading" }, "My endpoints by state"),
        mine.length === 0 ? el("p", {}, "You have no endpoints.")
          : table(["State", "Endpoints"], Object.entries(byState).map(([state, n]) =>
              el("tr", {}, stateCell(state), el("td", { "data-state": state }, n))))),
      el("section", { class: "card", "aria-labelledby": "health-heading" },
        el("h2", { id: "health-heading" }, "Unhealthy targets"),
        unhealthy.length === 0 ? el("p", { id: "unhealthy" }, "No target of your services is unhealthy.")
          : table(["Service", "Port", "Target", "Reason"], unhealthy.map((t) => el("tr", {},
              el("td", {}, t.service), el("td", {}, t.port), el("td", {}, t.target),
              el("td", { class: "fail" }, t.reason || "unhealthy"))))),
      nodes ? el("section", { class: "card", "aria-labelledby": "nodes-heading" },
        el("h2", { id: "nodes-heading" }, "Gateway nodes"),
        table(["Node", "Agent address", "State", "Agent sessions"], nodes.map((n) => el("tr", {},
          el("td", {}, n.id), el("td", {}, n.agentAddress), el("td", {}, n.state), el("td", {}, n.sessions)))))
        : null,
    );
  },
};

const accessPage = {
  async load() {
    const [users, keys] = await Promise.all([
      can("users:read") ? api("GET", "/v1/users") : { items: [] },
      can("keys:read") ? api("GET", "/v1/api-keys") : { items: [] },
    ]);
    return { users: users.items, keys: keys.items };
  },
  draw({ users, keys }) {
    const revoke = can("keys:write");
    return el(
      "div",
      {},
      el("h1", {}, "Users and API keys"),
      el("section", { class: "card", "aria-labelledby": "users-heading" },
        el("h2", { id: "users-heading" }, "Users"),
        table(["Name", "Role", "OIDC subject"], users.map((u) => el("tr", { "data-user": u.name },
          el("td", {}, u.name), el("td", {}, u.role), el("td", {}, u.oidcSubject || "—")))),
        can("users:write") ? userForm() : null),
      el("section", { class: "card", "aria-labelledby": "keys-heading" },
        el("h2", { id: "keys-heading" }, "API keys"),
        table(["Name", "User", "Prefix", "Status", "Last used", revoke ? "" : null].filter((h) => h !== null),
          keys.map((k) => el("tr", { "data-key": k.id },
            el("td", {}, k.name), el("td", {}, k.user), el("td", {}, el("code", {}, k.prefix)),
            el("td", {}, k.status), el("td", {}, k.lastUsedAt || "never"),
            revoke ? el("td", {}, k.status === "active"
              ? el("button", { id: "revoke-" + k.id, type: "button",
                  onclick: () => change("Revoke " + k.name, "DELETE", "/v1/api-keys/" + k.id) }, "Revoke")
              : "") : null))),
        can("keys:write") ? keyForm() : null),
    );
  },
};

function userForm() {
  const form = el("form", { id: "user-form" },
    el("label", { for: "user-name" }, "New user "), el("input", { id: "user-name", required: true }), " ",
    el("label", { for: "user-role" }, "role "),
    el("select", { id: "user-role" }, ["viewer", "member", "admin"].map((r) => el("option", { value: r }, r))), " ",
    el("button", { id: "create-user", type: "submit" }, "Add user"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    change("Add user " + $("user-name").value, "POST", "/v1/users",
      { name: $("user-name").value, role: $("user-role").value });
  });
  return form;
}

/** A new API key, shown once: polling stops until the user says it is copied. */
function keyForm() {
  const out = el("div", { id: "new-key", "aria-live": "polite" });
  const form = el("form", { id: "key-form" },
    el("label", { for: "key-name" }, "New API key "), el("input", { id: "key-name", required: true }), " ",
    el("button", { id: "create-key", type: "submit" }, "Create key"), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let created;
    try {
      created = await api("POST", "/v1/api-keys", { name: $("key-name").value });
    } catch (e) {
      status("Create key failed: " + e.message);
      return;
    }
    stopPolling();
    out.replaceChildren(
      el("p", {}, "Copy this now: the key is not shown again."),
      el("pre", { id: "key-text" }, created.key),
      el("button", { id: "key-done", type: "button", onclick: () => { out.replaceChildren(); startPolling(); lastShown = ""; show(); } },
        "Done, I copied it"),
    );
    $("key-done").focus();
  });
  return form;
}

/** The audit filter typed on the page, kept across redraws. */
let auditAction = "";

const auditPage = {
  async load() {
    if (!can("audit:read")) return { items: [], verify: null };
    const query = auditAction ? "?action=" + encodeURIComponent(auditAction) : "";
    const [events, verify] = await Promise.all([
      api("GET", "/v1/audit-events" + query),
      api("GET", "/v1/audit-events/verify"),
    ]);
    return { items: events.items, verify };
  },
  draw({ items, verify }) {
    const form = el("form", { id: "audit-form" },
      el("label", { for: "audit-action" }, "Action (a prefix ending in * matches several) "),
      el("input", { id: "audit-action", value: auditAction }), " ",
      el("button", { id: "audit-filter", type: "submit" }, "Filter"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      auditAction = $("audit-action").value.trim();
      lastShown = "";
      show();
    });
    return el(
      "div",
      {},
      el("h1", {}, "Audit log"),
      verify ? el("p", { id: "audit-verify", class: verify.valid ? "pass" : "fail" }, verify.valid
        ? `The chain of ${verify.account} is intact: ${verify.records} record(s).`
        : `The chain of ${verify.account} is broken at record ${verify.firstBadSeq}: ${verify.problem}`) : null,
      el("section", { class: "card" }, form,
        items.length === 0 ? el("p", {}, "No records.")
          : table(["At", "Actor", "Action", "Target", "Outcome"], items.map((r) => el("tr", {},
              el("td", {}, r.at), el("td", {}, r.actor), el("td", {}, r.action), el("td", {}, r.target),
              el("td", {}, r.outcome))))),
    );
  },
};

// --- start -----------------------------------------------------------------------------------

/** Each page: the address that shows it, and what it loads and draws. */
const pages = [
  [/^#\/overview$/, overviewPage],
  [/^#\/access$/, accessPage],
  [/^#\/audit$/, auditPage],
  [/^#\/endpoints\/(ep-[a-z0-9]+)$/, endpointPage],
  [/^#\/endpoints$/, endpointsPage],
  [/^#\/services$/, servicesPage],
  [/^#\/agents$/, agentsPage],
];

let poller = null;
function startPolling() {
  if (poller === null) poller = setInterval(show, POLL_MS);
}
function stopPolling() {
  clearInterval(poller);
  poller = null;
}

window.addEventListener("hashchange", () => {
  status("");
  startPolling();
  show();
  $("main").focus();
});

(async () => {
  try {
    signedIn(await api("GET", "/console/session"));
  } catch (e) {
    signedOut("");
  }
  startPolling();
})();
