// crowdzero's page: draw the board, send moves, wait for the agent, replay finished games.
//
// The server decides everything (legality, captures, the score); this script only shows
// what the server says. Text that comes from people (nicknames) is only ever put into the
// page with textContent, never as HTML, so a nickname like "<script>" is shown as typed.
"use strict";

(() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const COLUMNS = "ABCDEFGHJKLMNOPQRST"; // GTP skips I
  const CELL = 40; // grid spacing, in SVG user units
  const STONE_R = CELL * 0.47;
  // Coordinate labels live in a band outside the outermost stones: each side of the board
  // is the stone's radius, a gap, then room for a two-digit label ("19" at 13px is ~16
  // units wide), so no label is ever covered by, or touches, a stone on the edge.
  const LABEL_GAP = 6;
  const LABEL_BAND = 24;
  const MARGIN = Math.ceil(STONE_R + LABEL_GAP + LABEL_BAND);
  const LABEL_AT = (MARGIN - STONE_R) / 2; // label centre: midway from board edge to stone edge
  const STORAGE_GAME = "crowdzero.game";
  const STORAGE_NICK = "crowdzero.nickname";

  const $ = (id) => document.getElementById(id);
  const state = {
    info: null,
    game: null, // last state from the server
    token: null,
    polling: false,
    busy: false, // a move or resignation is on its way to the server
    resignArmed: false,
    replay: null,
  };

  // ------------------------------------------------------------------ server calls

  async function api(method, path, body) {
    const options = { method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (err) {
      return { ok: false, status: 0, detail: "cannot reach the server; check your connection" };
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (response.ok) return { ok: true, status: response.status, data };
    return {
      ok: false,
      status: response.status,
      detail: describeError(data, response.status),
      retryAfter: Number(response.headers.get("Retry-After") || "1"),
    };
  }

  function describeError(data, status) {
    if (data && typeof data.detail === "string") return data.detail;
    if (data && Array.isArray(data.detail)) {
      return data.detail
        .map((d) => String(d.msg || "invalid input").replace(/^Value error, /, ""))
        .join("; ");
    }
    return `the server answered ${status}`;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // ------------------------------------------------------------------ drawing

  function svg(tag, attrs, parent) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (parent) parent.appendChild(el);
    return el;
  }

  function starPoints(n) {
    if (n < 7) return [[(n - 1) / 2, (n - 1) / 2]].filter(([r]) => Number.isInteger(r));
    const edge = n >= 13 ? 3 : 2;
    const far = n - 1 - edge;
    const mid = (n - 1) / 2;
    const pts = [[edge, edge], [edge, far], [far, edge], [far, far]];
    if (n % 2 === 1) pts.push([mid, mid]);
    if (n >= 15 && n % 2 === 1) pts.push([edge, mid], [far, mid], [mid, edge], [mid, far]);
    return pts;
  }

  function gtpName(point, n) {
    const row = Math.floor(point / n);
    const col = point % n;
    return COLUMNS[col] + String(row + 1);
  }

  // Draw `board` ("B"/"W"/"." per point, row 0 at the bottom) into the <svg> `el`.
  // `onPlay(gtp)` makes empty points clickable; `lastPoint` gets a marker.
  function drawBoard(el, n, board, lastPoint, onPlay) {
    const size = 2 * MARGIN + (n - 1) * CELL;
    el.replaceChildren();
    el.setAttribute("viewBox", `0 0 ${size} ${size}`);
    const x = (col) => MARGIN + col * CELL;
    const y = (row) => MARGIN + (n - 1 - row) * CELL;
    svg("rect", { x: 0, y: 0, width: size, height: size, class: "wood" }, el);
    const grid = svg("g", { class: "grid" }, el);
    for (let i = 0; i < n; i++) {
      svg("line", { x1: x(0), y1: y(i), x2: x(n - 1), y2: y(i) }, grid);
      svg("line", { x1: x(i), y1: y(0), x2: x(i), y2: y(n - 1) }, grid);
    }
    for (const [r, c] of starPoints(n)) {
      svg("circle", { cx: x(c), cy: y(r), r: 3.5, class: "star" }, el);
    }
    const labels = svg("g", { class: "coords" }, el);
    const label = (lx, ly, text) => {
      const t = svg("text", {
        x: lx, y: ly, "text-anchor": "middle", "dominant-baseline": "central",
      }, labels);
      t.textContent = text;
    };
    for (let i = 0; i < n; i++) {
      for (const yy of [LABEL_AT, size - LABEL_AT]) label(x(i), yy, COLUMNS[i]);
      for (const xx of [LABEL_AT, size - LABEL_AT]) label(xx, y(i), String(i + 1));
    }
    const stones = svg("g", {}, el);
    for (let p = 0; p < n * n; p++) {
      const row = Math.floor(p / n);
      const col = p % n;
      const ch = board[p];
      if (ch === "B" || ch === "W") {
        svg("circle", {
          cx: x(col), cy: y(row), r: STONE_R,
          class: ch === "B" ? "stone black" : "stone white",
          "data-gtp": gtpName(p, n), "data-stone": ch,
        }, stones);
        if (p === lastPoint) {
          svg("circle", {
            cx: x(col), cy: y(row), r: CELL * 0.16,
            class: ch === "B" ? "last on-black" : "last on-white",
          }, stones);
        }
      } else if (onPlay) {
        const target = svg("circle", {
          cx: x(col), cy: y(row), r: STONE_R, class: "spot",
          "data-gtp": gtpName(p, n), tabindex: 0, role: "button",
          "aria-label": `play ${gtpName(p, n)}`,
        }, stones);
        target.addEventListener("click", () => onPlay(gtpName(p, n)));
        target.addEventListener("keydown", (ev) => {
          if (ev.key === "Enter" || ev.key === " ") {
            ev.preventDefault();
            onPlay(gtpName(p, n));
          }
        });
      }
    }
  }

  // ------------------------------------------------------------------ the live game

  function colourWord(c) {
    return c === "black" ? "Black" : "White";
  }

  function nickname() {
    return state.game ? state.game.nickname : $("nickname").value.trim();
  }

  function lastPointOf(game) {
    const moves = game.moves;
    if (!moves.length) return -1;
    const m = moves[moves.length - 1].move;
    if (m === "pass" || m === "resign") return -1;
    const col = COLUMNS.indexOf(m[0]);
    const row = Number(m.slice(1)) - 1;
    return row * game.size + col;
  }

  function showMessage(text) {
    $("message").textContent = text || "";
  }

  function render(game) {
    state.game = game;
    $("setup").hidden = true;
    $("game").hidden = false;
    const yourTurn = game.status === "your_move";
    drawBoard($("board"), game.size, game.board, lastPointOf(game), yourTurn ? playPoint : null);
    $("board").classList.toggle("your-turn", yourTurn);

    const you = `${game.nickname} (${colourWord(game.human_colour)})`;
    $("players").textContent = `${you} vs the agent (${colourWord(game.agent_colour)})`;

    $("spinner").hidden = game.status !== "agent_thinking";
    const statusText = {
      your_move: `Your move (${colourWord(game.human_colour)}).`,
      agent_thinking: "The agent is thinking…",
      over: "Game over.",
      stopped: "The game was stopped.",
    }[game.status];
    $("status-text").textContent = statusText || game.status;
    $("status").dataset.status = game.status;
    $("status").dataset.moves = String(game.moves.length);

    $("captures").textContent =
      `Captured: Black ${game.captures.black} · White ${game.captures.white}`;
    const last = game.moves.length ? game.moves[game.moves.length - 1] : null;
    $("move-info").textContent = last
      ? `Move ${game.moves.length}: ${colourWord(last.colour)} ${last.move}`
      : "No moves yet.";

    $("pass").disabled = !yourTurn;
    $("resign").disabled = !yourTurn;
    $("advice-send").disabled = !yourTurn;
    $("advice-note").textContent = game.advice
      ? `The agent will hear your suggestion ${game.advice} on its next move.`
      : "";
    if (!yourTurn) disarmResign();
    $("sgf").href = `/api/games/${encodeURIComponent(game.game_id)}/sgf`;

    const list = $("move-list");
    list.replaceChildren();
    for (const m of game.moves) {
      const li = document.createElement("li");
      li.textContent =
        `${colourWord(m.colour)} ${m.move}` + (m.advice ? ` (advised ${m.advice})` : "");
      list.appendChild(li);
    }
    renderResult(game);
  }

  function renderResult(game) {
    const box = $("result");
    if (!game.over) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    if (game.error && !game.result) {
      $("result-text").textContent = `The game was stopped: ${game.error}`;
      $("score-text").textContent = "";
      $("saved-text").textContent = "";
      return;
    }
    let verdict;
    if (game.winner === "draw") verdict = "A draw (jigo).";
    else if (game.winner === game.human_colour) verdict = "You win!";
    else verdict = "The agent wins.";
    $("result-text").textContent = `Result: ${game.result}. ${verdict}`;
    if (game.score) {
      const s = game.score;
      const margin = Math.abs(s.margin);
      const leader = s.margin > 0 ? "Black" : "White";
      $("score-text").textContent =
        `Area score: Black ${s.black_area}, White ${s.white_area} + komi ${s.komi}` +
        (margin > 0 ? ` → ${leader} by ${margin}.` : " → a draw.") +
        (game.capped ? " (stopped at the move limit and scored as it stood)" : "");
    } else {
      const loser = game.result.startsWith("B") ? "White" : "Black";
      $("score-text").textContent = `${loser} resigned.`;
    }
    if (game.error) {
      $("saved-text").textContent = game.error;
    } else if (game.store_id !== null) {
      $("saved-text").textContent =
        `Saved as game #${game.store_id}: the agent will learn from it.`;
    } else {
      $("saved-text").textContent = "Saving…";
    }
  }

  function disarmResign() {
    state.resignArmed = false;
    $("resign").textContent = "Resign";
    $("resign").classList.remove("armed");
  }

  async function afterAction(result) {
    if (!result.ok) {
      showMessage(result.detail);
      if (result.status === 404) forgetGame();
      return;
    }
    showMessage("");
    render(result.data);
    if (result.data.over) {
      forgetGame(false);
      waitUntilStored();
      return;
    }
    if (result.data.status === "agent_thinking") pollUntilYourMove();
  }

  // Send one action (a move or a resignation) unless one is already on its way.
  async function act(path, body) {
    if (state.busy || !state.game || state.game.status !== "your_move") return;
    state.busy = true;
    let r;
    try {
      r = await api("POST", path, body);
    } finally {
      state.busy = false;
    }
    await afterAction(r);
  }

  async function playPoint(gtp) {
    if (!state.game) return;
    const id = encodeURIComponent(state.game.game_id);
    await act(`/api/games/${id}/move`, { token: state.token, move: gtp });
  }

  async function pollUntilYourMove() {
    if (state.polling) return;
    state.polling = true;
    try {
      while (state.game && state.game.status === "agent_thinking") {
        const g = state.game;
        const r = await api(
          "GET",
          `/api/games/${encodeURIComponent(g.game_id)}?since=${g.version}&wait=25`,
        );
        if (!r.ok) {
          if (r.status === 404) {
            showMessage(r.detail);
            forgetGame();
            return;
          }
          showMessage(r.status === 429 ? "Slowing down (too many requests)…" : r.detail);
          await sleep(1000 * Math.max(1, r.retryAfter || 1));
          continue;
        }
        if (state.game && state.game.game_id !== r.data.game_id) return;
        showMessage("");
        render(r.data);
        if (r.data.over) {
          forgetGame(false);
          waitUntilStored();
        }
      }
    } finally {
      state.polling = false;
    }
  }

  // After the end the server writes the game to the store; show its number once it has.
  async function waitUntilStored() {
    for (let i = 0; i < 20 && state.game && state.game.store_id === null && !state.game.error; i++) {
      await sleep(300);
      const g = state.game;
      const r = await api("GET", `/api/games/${encodeURIComponent(g.game_id)}`);
      if (!r.ok) break;
      render(r.data);
    }
    loadHistory();
  }

  function rememberGame(gameId, token) {
    try {
      localStorage.setItem(STORAGE_GAME, JSON.stringify({ game_id: gameId, token }));
    } catch (err) { /* private mode: no resume after reload */ }
  }

  function forgetGame(clearState = true) {
    try {
      localStorage.removeItem(STORAGE_GAME);
    } catch (err) { /* ignore */ }
    if (clearState) {
      state.game = null;
      state.token = null;
    }
  }

  async function startGame(ev) {
    ev.preventDefault();
    const nick = $("nickname").value.trim();
    const size = Number($("size").value);
    const colour = $("colour").value;
    $("setup-message").textContent = "";
    $("start").disabled = true;
    const r = await api("POST", "/api/games", { nickname: nick, size, colour });
    $("start").disabled = false;
    if (!r.ok) {
      $("setup-message").textContent = r.detail;
      return;
    }
    try {
      localStorage.setItem(STORAGE_NICK, nick);
    } catch (err) { /* ignore */ }
    state.token = r.data.token;
    rememberGame(r.data.game_id, r.data.token);
    showMessage("");
    await afterAction({ ok: true, data: r.data });
    loadHistory();
  }

  async function resumeGame() {
    let saved = null;
    try {
      saved = JSON.parse(localStorage.getItem(STORAGE_GAME) || "null");
    } catch (err) {
      saved = null;
    }
    if (!saved || typeof saved.game_id !== "string") return;
    const r = await api("GET", `/api/games/${encodeURIComponent(saved.game_id)}`);
    if (!r.ok || r.data.over) {
      forgetGame();
      return;
    }
    state.token = saved.token;
    await afterAction(r);
  }

  function newGame() {
    if (state.game && !state.game.over) {
      showMessage("Finish or resign this game first.");
      return;
    }
    forgetGame();
    $("game").hidden = true;
    $("setup").hidden = false;
    $("nickname").focus();
  }

  // A suggestion for the agent's next move: checked by the server like a move; on a
  // refusal the text stays in the box so nothing typed is lost.
  async function suggest(ev) {
    ev.preventDefault();
    if (!state.game || state.game.status !== "your_move") return;
    const id = encodeURIComponent(state.game.game_id);
    const text = $("advice-input").value.trim();
    const r = await api("POST", `/api/games/${id}/advice`, { token: state.token, advice: text });
    if (!r.ok) {
      showMessage(r.detail);
      return;
    }
    showMessage("");
    $("advice-input").value = "";
    render(r.data);
  }

  async function pass() {
    await playPoint("pass");
  }

  async function resign() {
    if (!state.game || state.game.status !== "your_move") return;
    if (!state.resignArmed) {
      state.resignArmed = true;
      $("resign").textContent = "Really resign?";
      $("resign").classList.add("armed");
      setTimeout(disarmResign, 4000);
      return;
    }
    disarmResign();
    const id = encodeURIComponent(state.game.game_id);
    await act(`/api/games/${id}/resign`, { token: state.token });
  }

  // ------------------------------------------------------------------ history and replay

  async function loadHistory() {
    const mine = $("mine-only").checked;
    const nick = nickname();
    let path = "/api/history?limit=50";
    if (mine && nick) path += `&nickname=${encodeURIComponent(nick)}`;
    const r = await api("GET", path);
    const list = $("history-list");
    list.replaceChildren();
    if (!r.ok) {
      $("history-empty").hidden = false;
      $("history-empty").textContent = r.detail;
      return;
    }
    const games = r.data.games;
    $("history-empty").hidden = games.length > 0;
    $("history-empty").textContent = mine ? "You have no finished games yet." : "No finished web games yet.";
    for (const g of games) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "history-item";
      button.dataset.storeId = String(g.store_id);
      button.textContent =
        `#${g.store_id} · ${g.black} (B) vs ${g.white} (W) · ${g.result} · ` +
        `${g.moves} moves · ${g.size}x${g.size} · ${g.date}`;
      button.addEventListener("click", () => openReplay(g.store_id));
      li.appendChild(button);
      list.appendChild(li);
    }
  }

  async function openReplay(storeId) {
    const r = await api("GET", `/api/history/${encodeURIComponent(storeId)}`);
    if (!r.ok) {
      $("history-empty").hidden = false;
      $("history-empty").textContent = r.detail;
      return;
    }
    state.replay = r.data;
    $("replay").hidden = false;
    $("replay-title").textContent =
      `Game #${r.data.store_id}: ${r.data.black} (B) vs ${r.data.white} (W), ${r.data.result}`;
    const slider = $("replay-slider");
    slider.max = String(r.data.frames.length - 1);
    slider.value = slider.max;
    $("replay-sgf").href = `/api/history/${encodeURIComponent(r.data.store_id)}/sgf`;
    showFrame(r.data.frames.length - 1);
    $("replay").scrollIntoView({ block: "nearest" });
  }

  function showFrame(i) {
    const game = state.replay;
    if (!game) return;
    const last = game.frames.length - 1;
    const index = Math.max(0, Math.min(last, i));
    const frame = game.frames[index];
    $("replay-slider").value = String(index);
    drawBoard($("replay-board"), game.size, frame.board,
      frame.last_point === null ? -1 : frame.last_point, null);
    let text = index === 0 ? "Start of the game" : "";
    if (index > 0) {
      const m = game.move_list[index - 1];
      text = `Move ${index} of ${last}: ${colourWord(m.colour)} ${m.move}`;
    }
    if (index === last) text += ` · result ${game.result}`;
    text += ` · captured: Black ${frame.captures.black}, White ${frame.captures.white}`;
    $("replay-info").textContent = text;
  }

  // ------------------------------------------------------------------ start-up

  async function loadInfo() {
    const r = await api("GET", "/api/info");
    if (!r.ok) {
      $("network-note").textContent = `The server is not answering: ${r.detail}`;
      return;
    }
    state.info = r.data;
    const select = $("size");
    select.replaceChildren();
    for (const n of r.data.board_sizes) {
      const opt = document.createElement("option");
      opt.value = String(n);
      opt.textContent = `${n}×${n} (komi ${r.data.komi})`;
      select.appendChild(opt);
    }
    const net = r.data.network;
    const search = `${r.data.search.simulations} simulations per move (${r.data.search.algorithm} search)`;
    $("network-note").textContent = net.fresh
      ? `Run “${r.data.run}” has no checkpoint yet, so the agent is a freshly initialised, ` +
        `untrained network of the run's shape, searching ${search}. ` +
        "It will get stronger as the run trains."
      : `The agent plays checkpoint ${net.label} (training step ${net.step}) of run ` +
        `“${r.data.run}”, searching ${search}.`;
  }

  function bind() {
    $("new-game-form").addEventListener("submit", startGame);
    $("pass").addEventListener("click", pass);
    $("advice-form").addEventListener("submit", suggest);
    $("resign").addEventListener("click", resign);
    $("new-game").addEventListener("click", newGame);
    $("refresh-history").addEventListener("click", loadHistory);
    $("mine-only").addEventListener("change", loadHistory);
    $("replay-slider").addEventListener("input", (ev) => showFrame(Number(ev.target.value)));
    $("replay-first").addEventListener("click", () => showFrame(0));
    $("replay-prev").addEventListener("click", () => showFrame(Number($("replay-slider").value) - 1));
    $("replay-next").addEventListener("click", () => showFrame(Number($("replay-slider").value) + 1));
    $("replay-last").addEventListener("click", () => showFrame(Number.MAX_SAFE_INTEGER));
    try {
      const nick = localStorage.getItem(STORAGE_NICK);
      if (nick) $("nickname").value = nick;
    } catch (err) { /* ignore */ }
  }

  bind();
  loadInfo().then(resumeGame).then(loadHistory);
})();
