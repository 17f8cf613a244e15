"use strict";
// The officials' review page: plain JS, no build step, nothing fetched from outside this service.
// Citizens' text only ever enters the page as text nodes (h() below), never as HTML.

const TOKEN_KEY = "minsheng.token";
const STATUS = { open: "待处理", claimed: "处理中", resolved: "已办结" };
const ACTION = {
  "ticket.created": "受理入库", "ticket.claimed": "认领", "ticket.relabeled": "改标",
  "ticket.resolved": "办结", "ticket.reopened": "重新打开", "ticket.confirmed": "确认标签",
  "ticket.unclaimed": "释放认领", "ticket.assigned": "指派", "ticket.unmasked_read": "查看完整内容",
  "ticket.erased": "个人信息已删除", "ticket.due_changed": "办理时限变更", "ticket.overdue": "超期",
  "ticket.extension_requested": "申请延期", "ticket.extension_approved": "批准延期", "ticket.extension_refused": "驳回延期",
  "ticket.supervised": "督办", "feedback.received": "群众评价",
};
const DUE_CAUSE = { relabel: "改标", reopen: "重新打开", extension: "延期" };
const EXTENSION = { pending: "待审批", approved: "已批准", refused: "已驳回" };
const TASK = { domain: "领域", sentiment: "情感", appeal: "诉求类型", urgent: "加急" };
const MASK = { PHONE: "手机号", LANDLINE: "固话", EMAIL: "邮箱", ID_NUMBER: "身份证号", BANK_CARD: "银行卡号", PLATE: "车牌",
  NAME: "姓名", ADDRESS: "门牌地址", QQ: "QQ号", WECHAT: "微信号" };
const MASK_RE = new RegExp(`(\\[(?:${Object.keys(MASK).join("|")})\\])`);
const SENTIMENT_COLOR = { 负面: "#d32f2f", 中性: "#9aa5b1", 正面: "#2e7d32" };
const PALETTE = ["#1f5fa8", "#e07b39", "#3a9e6b", "#c23b3b", "#7b5ea7", "#8c6d46", "#d16ba5", "#6b7785",
  "#b5a32c", "#2aa3b8", "#a33b76", "#5d8c2e", "#d4a017", "#3b4cc0", "#99582a"];

const view = document.getElementById("view");
const notice = document.getElementById("notice");
let me = null; // GET /api/me
let labels = null; // GET /api/labels
let pendingNotice = null; // shown by the next render, e.g. after moving to another view

// ---- DOM helpers --------------------------------------------------------------------------------------------
function build(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.flat(Infinity).filter((c) => c != null && c !== false));
  return node;
}
const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
const s = (tag, attrs, ...children) =>
  build(document.createElementNS("http://www.w3.org/2000/svg", tag), attrs, children);

function showNotice(message, error = false) {
  notice.hidden = !message;
  notice.textContent = message || "";
  notice.className = error ? "notice error" : "notice";
}

function navigate(hash, message) {
  pendingNotice = message;
  if (location.hash === hash) render();
  else location.hash = hash;
}

const time = (iso) => (iso ? new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false }) : "—");
const percent = (p) => (p == null ? "人工" : `${Math.round(p * 100)}%`);

// ---- API ----------------------------------------------------------------------------------------------------
async function api(path, body) {
  const options = { headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` } };
  if (body !== undefined) {
    Object.assign(options, { method: "POST", body: JSON.stringify(body) });
    options.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) {
    signOut();
    throw new Error("令牌无效或已吊销，请重新登录");
  }
  if (!response.ok) {
    const problems = (data.problems || []).map((p) => `${p.field}：${p.problem}`).join("；");
    const messages = { 403: "无权访问：该工单或队列属于其他部门", 404: "未找到", 409: "操作冲突" };
    throw new Error(`${messages[response.status] || "请求有误"}（${data.error || response.status}）${problems ? `：${problems}` : ""}`);
  }
  return data;
}

async function loadLabels() {
  labels = labels || (await api("/api/labels"));
  return labels;
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  me = labels = null;
}

// ---- views --------------------------------------------------------------------------------------------------
function showSignIn() {
  document.getElementById("nav").hidden = document.getElementById("who").hidden = true;
  const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true });
  const submit = async (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    try {
      const who = await api("/api/me");
      if (who.role === "intake") {
        signOut();
        return showNotice("该令牌仅用于受理接口，没有审核权限", true);
      }
      navigate("#/queues");
    } catch (e) {
      showNotice(e.message, true);
    }
  };
  view.replaceChildren(h("form", { class: "panel signin", onsubmit: submit },
    h("h1", {}, "登录"),
    h("p", { class: "muted" }, "请输入管理员发放的访问令牌（minsheng users add 生成）。令牌仅保存在本标签页中。"),
    h("label", { for: "token" }, "访问令牌"), input,
    h("button", { type: "submit" }, "登录")));
  input.focus();
}

function count(label, value, cls) {
  return h("div", { class: cls }, h("b", {}, value), h("small", {}, label));
}

async function showQueues() {
  const { queues } = await api("/api/queues");
  view.replaceChildren(
    h("h1", {}, "工作队列"),
    h("div", { class: "queues" }, queues.length ? null : h("p", { class: "muted" }, "没有可查看的队列。"), queues.map((q) =>
      h("a", { class: "panel queue-card", href: `#/queue/${q.queue}`, "data-queue": q.queue },
        h("div", {}, h("span", { class: "dept" }, q.department), h("span", { class: "qid" }, q.queue)),
        h("div", { class: "counts" }, count("待处理", q.counts.open), count("处理中", q.counts.claimed),
          count("已办结", q.counts.resolved), count("加急", q.urgent, "urgent"),
          count("超期", q.overdue, "overdue"), count("临期", q.due_soon, "due-soon"))))));
}

function tags(t) {
  return [
    h("span", { class: "tag domain" }, t.domain),
    h("span", { class: `tag ${t.sentiment === "负面" ? "neg" : t.sentiment === "正面" ? "pos" : ""}` }, t.sentiment),
    h("span", { class: "tag" }, t.appeal),
    t.urgent && h("span", { class: "tag urgent" }, "加急"),
    t.needs_review && h("span", { class: "tag review" }, "待复核"),
  ];
}

// the time limit's state: 超期 (past due, unresolved), 临期 (due within 24 hours)
function dueTag(t) {
  if (t.overdue) return h("span", { class: "tag overdue" }, "超期");
  if (t.due_soon) return h("span", { class: "tag due-soon" }, "临期");
  return null;
}

function select(name, options, value, attrs = {}) {
  return h("select", { name, ...attrs }, options.map(([v, text]) =>
    h("option", { value: v, selected: String(v) === String(value ?? "") }, text)));
}

const choices = (values, all = "全部") => [["", all], ...values.map((v) => [v, v])];

async function showQueue(queue, params) {
  const [page, { queues }] = await Promise.all([
    api(`/api/queues/${encodeURIComponent(queue)}/tickets?${params}`), loadLabels()]);
  const go = (changes) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) (v === "" || v == null) ? next.delete(k) : next.set(k, v);
    location.hash = `#/queue/${queue}?${next}`;
  };
  const filter = (event) => go({ [event.target.name]: event.target.value, page: "" });
  const yesNo = [["", "全部"], ["true", "是"], ["false", "否"]];
  const filters = h("div", { class: "filters panel" },
    h("label", {}, "状态", select("status", [["", "全部"], ...Object.entries(STATUS)], params.get("status"), { onchange: filter })),
    h("label", {}, "领域", select("domain", choices(labels.values.domain), params.get("domain"), { onchange: filter })),
    h("label", {}, "情感", select("sentiment", choices(labels.values.sentiment), params.get("sentiment"), { onchange: filter })),
    h("label", {}, "诉求类型", select("appeal", choices(labels.values.appeal), params.get("appeal"), { onchange: filter })),
    h("label", {}, "加急", select("urgent", yesNo, params.get("urgent"), { onchange: filter })),
    h("label", {}, "待复核", select("needs_review", yesNo, params.get("needs_review"), { onchange: filter })),
    h("label", {}, "时限", select("due", [["", "全部"], ["overdue", "超期"], ["soon", "24小时内到期"]], params.get("due"), { onchange: filter })),
    h("label", {}, "排序", select("order", [["", "加急优先"], ["due", "到期时间"], ["uncertain", "模型最不确定"]], params.get("order"), { onchange: filter })),
    h("label", {}, "自", h("input", { type: "date", name: "since", value: params.get("since"), onchange: filter })),
    h("label", {}, "至", h("input", { type: "date", name: "until", value: params.get("until"), onchange: filter })));
  const pages = Math.max(1, Math.ceil(page.total / page.page_size));
  const rowClass = (t) => [t.urgent && "urgent", t.overdue && "overdue", t.due_soon && "due-soon"].filter(Boolean).join(" ") || null;
  const rows = page.tickets.map((t) => h("tr", { class: rowClass(t), "data-ticket": t.id },
    h("td", {}, h("a", { href: `#/ticket/${t.id}?from=${queue}` }, `#${t.id}`)),
    h("td", { class: "excerpt" },
      h("a", { href: `#/ticket/${t.id}?from=${queue}` }, h("div", { class: "title" }, t.title || "（无标题）")),
      h("div", { class: "text" }, maskedText(t.excerpt))),
    h("td", {}, tags(t), dueTag(t)),
    h("td", { class: "conf" }, Object.entries(TASK).map(([task, name]) =>
      h("div", {}, `${name} ${percent(t.confidence[task])}`))),
    h("td", { class: "kw" }, t.keywords.slice(0, 5).join("、")),
    h("td", { class: "conf" }, time(t.created_at)),
    h("td", { class: `conf due${t.overdue ? " late" : ""}` }, time(t.due_at)),
    h("td", {}, STATUS[t.status], t.claimed_by && h("div", { class: "kw" }, t.claimed_by))));
  view.replaceChildren(
    h("h1", {}, `${queues[queue] || queue}`, h("span", { class: "muted" }, ` · ${queue} · 共 ${page.total} 件`)),
    filters,
    h("table", { id: "tickets" },
      h("thead", {}, h("tr", {}, ["编号", "诉求内容", "标签", "置信度", "关键词", "受理时间", "办理时限", "状态"].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 8, class: "muted" }, "没有符合条件的工单")))),
    h("div", { class: "pager" },
      h("button", { class: "secondary", disabled: page.page <= 1, onclick: () => go({ page: page.page - 1 }) }, "上一页"),
      h("span", {}, `第 ${page.page} / ${pages} 页`),
      h("button", { class: "secondary", disabled: page.page >= pages, onclick: () => go({ page: page.page + 1 }) }, "下一页")));
}

function maskedText(text) {
  return text.split(MASK_RE).map((part) => {
    const type = MASK_RE.test(part) && part.slice(1, -1);
    return type ? h("span", { class: "mask", title: "已遮蔽的个人信息" }, MASK[type]) : part;
  });
}

function historyLine(e) {
  const d = e.detail || {};
  const changes = Object.entries(d.changes || {}).map(([task, [a, b]]) => `${TASK[task]}：${a} → ${b}`);
  if (d.to_queue && d.to_queue !== d.from_queue) changes.push(`转至 ${labels.queues[d.to_queue] || d.to_queue}`);
  if (e.action === "ticket.created") changes.push(`分至 ${labels.queues[d.queue] || d.queue}`);
  if (d.reply_chars) changes.push(`答复 ${d.reply_chars} 字`);
  for (const [task, value] of Object.entries(d.confirmed || {})) changes.push(`${TASK[task]}：${value}`);
  if (e.action === "ticket.unclaimed") changes.push(`原承办人 ${d.from}`);
  if (e.action === "ticket.assigned") changes.push(`${d.from || "无"} → ${d.to}`);
  if (e.action === "ticket.due_changed") changes.push(`${DUE_CAUSE[d.cause] || d.cause}：${time(d.from)} → ${time(d.to)}`);
  if (e.action === "ticket.overdue") changes.push(`时限 ${time(d.due_at)}`);
  if (e.action === "ticket.extension_requested") changes.push(`申请延至 ${time(d.requested_due_at)}`);
  if (e.action === "ticket.extension_approved") changes.push(`延至 ${time(d.to)}`);
  if (e.action === "feedback.received") changes.push(`${d.verdict}，${d.solved ? "已解决" : "未解决"}${d.reopened ? "，已退回重办" : ""}`);
  if (e.action === "ticket.reopened" && d.cause === "feedback") changes.push("群众不满意或问题未解决");
  return h("li", {}, h("span", { class: "muted" }, time(e.created_at)), ` ${e.actor} `,
    h("b", {}, ACTION[e.action] || e.action), changes.length ? `：${changes.join("，")}` : "");
}

async function showTicket(id, params) {
  const [t] = await Promise.all([api(`/api/tickets/${id}`), loadLabels()]);
  const back = params.get("from") || t.queue;
  const act = async (path, body, done) => {
    try {
      // every action is a POST: api() sends one only with a body (claim, unclaim and reopen take none)
      const result = await api(`/api/tickets/${id}/${path}`, body || {});
      if (result.queue && result.queue !== t.queue) {
        navigate(`#/queue/${back}`, `工单 #${id} 已改派至 ${result.department}`);
      } else {
        navigate(location.hash, done);
      }
    } catch (e) {
      showNotice(e.message, true);
    }
  };
  const relabel = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const body = { reason: form.get("reason") };
    for (const task of ["domain", "sentiment", "appeal"]) {
      // a triage ticket's domain is always sent: submitting the form routes it
      if (form.get(task) !== t[task] || (task === "domain" && t.needs_review)) body[task] = form.get(task);
    }
    if ((form.get("urgent") === "true") !== t.urgent) body.urgent = form.get("urgent") === "true";
    act("relabel", body, "已保存改标");
  };
  const resolve = (event) => {
    event.preventDefault();
    act("resolve", { reply: new FormData(event.target).get("reply") }, "已办结");
  };
  // advice only: the score and what is missing, shown beside the draft; resolving never waits for it
  const checkReply = async () => {
    const reply = document.querySelector("#resolve textarea").value;
    const box = document.getElementById("reply-check");
    if (!reply.trim()) return box.replaceChildren(h("p", { class: "muted" }, "请先填写答复内容"));
    box.replaceChildren(h("p", { class: "muted" }, "检查中…"));
    try {
      const c = await api(`/api/tickets/${t.id}/reply-check`, { reply });
      box.replaceChildren(
        h("p", { class: "reply-score" }, `答复质量 ${c.score} 分`,
          h("span", { class: "muted" }, `（相关 ${Math.round(c.relevance * 100)}%　完整 ${Math.round(c.completeness * 100)}%　规范 ${Math.round(c.form * 100)}%）`)),
        c.missing.length ? h("ul", { class: "missing" }, c.missing.map((m) => h("li", {}, m)))
          : h("p", { class: "muted" }, "未发现缺项"),
        h("p", { class: "muted" }, "仅供参考：无法判断所述事实是否属实、依据是否适用。"));
    } catch (e) {
      box.replaceChildren(h("p", { class: "muted" }, `无法检查：${e.message}`));
    }
  };
  const confirm = (event) => {
    event.preventDefault();
    const tasks = new FormData(event.target).getAll("tasks");
    if (!tasks.length) return showNotice("请勾选核对无误的标签", true);
    act("confirm", { tasks }, "已确认标签");
  };
  const assign = (event) => {
    event.preventDefault();
    const to = new FormData(event.target).get("to").trim();
    act("assign", { to }, `已指派给 ${to}`);
  };
  const extend = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    // datetime-local has no zone: the hotline's time
    act("extensions", { reason: form.get("reason"), due_at: `${form.get("due_at")}:00+08:00` }, "已提交延期申请");
  };
  const decide = (request, verdict) => act(`extensions/${request}/${verdict}`, {}, verdict === "approve" ? "已批准延期" : "已驳回延期");
  const superviseNote = (event) => {
    event.preventDefault();
    act("supervise", { note: new FormData(event.target).get("note") }, "已发送督办");
  };
  // the latest person's verdict per task: what retraining learns from this ticket
  const verified = Object.fromEntries(t.human_labels.map((l) => [l.task, l.after]));
  const current = { domain: t.domain, sentiment: t.sentiment, appeal: t.appeal,
    urgent: labels.values.urgent[Number(t.urgent)] };
  const open = t.status !== "resolved";
  const admin = me.role === "admin";
  const meta = [
    ["所属部门", `${t.department}（${t.queue}）`], ["状态", STATUS[t.status] + (t.claimed_by ? ` · ${t.claimed_by}` : "")],
    ["来源渠道", t.channel], ["受理时间", time(t.created_at)], ["来件时间", time(t.received_at)],
    ["办理时限", h("span", { id: "due" }, time(t.due_at), " ", dueTag(t))],
    ["联系方式", t.pii_visible ? t.contact || "—" : "已遮蔽"],
    ["模型判断", t.domain_top3.map((d) => `${d.domain} ${percent(d.confidence)}`).join("、") || "—"],
    ["置信度", Object.entries(TASK).map(([task, name]) => `${name} ${percent(t.confidence[task])}`).join("　")],
    t.urgent_cues.length && ["加急依据", t.urgent_cues.join("、")],
    t.praise_cues.length && ["表扬依据", t.praise_cues.join("、")],
    t.possible_emergency && ["可能紧急", t.possible_emergency_cues.join("、") || "模型判断"],
    ["关键词", t.keywords.join("、") || "—"], ["地点", t.places.join("、") || "—"],
    t.reply && ["答复", t.reply], t.resolved_at && ["办结时间", time(t.resolved_at)],
  ].filter(Boolean);
  view.replaceChildren(h("div", { class: "ticket" },
    h("section", { class: "panel" },
      h("div", {}, h("a", { href: `#/queue/${back}` }, "← 返回队列")),
      h("h1", { style: "margin-top:10px" }, `工单 #${t.id} `, tags(t)),
      h("h2", {}, t.title || "（无标题）"),
      h("div", { class: "body", id: "ticket-text" }, maskedText(t.text)),
      t.pii_visible ? null : h("p", { class: "muted" }, "个人信息已遮蔽：认领工单后，承办人可查看完整内容。"),
      h("dl", { class: "meta" }, meta.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
    h("aside", { class: "side" },
      h("div", { class: "panel" }, h("h2", {}, "办理"),
        t.status === "open" && h("button", { id: "claim", onclick: () => act("claim", undefined, "已认领") }, "认领工单"),
        t.status === "claimed" && h("span", { class: "muted" }, `由 ${t.claimed_by} 承办中 `),
        t.status === "claimed" && (admin || t.claimed_by === me.name) &&
          h("button", { id: "unclaim", class: "secondary", onclick: () => act("unclaim", undefined, "已释放认领") }, "释放认领"),
        !open && h("button", { id: "reopen", class: "secondary", onclick: () => act("reopen", undefined, "已重新打开") }, "重新打开"),
        open && admin && h("form", { id: "assign", onsubmit: assign, style: "margin-top:10px" },
          h("label", {}, "指派给"), h("input", { name: "to", required: true, maxlength: 100, placeholder: "本队列办理人员的用户名" }),
          h("button", { class: "full secondary", type: "submit" }, "指派"))),
      open && h("div", { class: "panel" }, h("h2", {}, "确认标签"),
        h("form", { id: "confirm", onsubmit: confirm },
          h("p", { class: "full muted" }, "勾选核对无误的标签：确认与改标会用于模型再训练；办结本身不算确认。"),
          Object.entries(TASK).map(([task, name]) => h("label", { class: "full check" },
            h("input", { type: "checkbox", name: "tasks", value: task }), ` ${name}：${current[task]}`,
            verified[task] === current[task] && h("span", { class: "muted" }, "（已核实）"))),
          h("button", { class: "full", type: "submit" }, "确认所选标签"))),
      open && h("div", { class: "panel" }, h("h2", {}, "改标 / 改派"),
        h("form", { id: "relabel", onsubmit: relabel },
          h("label", {}, "领域"), select("domain", labels.values.domain.map((d) => [d, `${d}（${labels.queues[labels.routes[d]]}）`]), t.domain),
          h("label", {}, "情感"), select("sentiment", choices(labels.values.sentiment).slice(1), t.sentiment),
          h("label", {}, "诉求类型"), select("appeal", choices(labels.values.appeal).slice(1), t.appeal),
          h("label", {}, "加急"), select("urgent", [["false", "否"], ["true", "是"]], String(t.urgent)),
          h("label", {}, "理由"), h("input", { name: "reason", required: true, maxlength: 1000, placeholder: "必填：为何修改" }),
          t.needs_review && h("p", { class: "full muted" }, "待复核工单：提交后按所选领域分拨到对应部门。"),
          h("button", { class: "full", type: "submit" }, "提交改标"))),
      open && h("div", { class: "panel" }, h("h2", {}, "办结答复"),
        h("form", { id: "resolve", onsubmit: resolve },
          h("textarea", { class: "full", name: "reply", required: true, maxlength: 5000, placeholder: "答复群众的内容" }),
          h("button", { class: "full secondary", type: "button", id: "check-reply", onclick: checkReply }, "检查答复质量"),
          h("div", { class: "full", id: "reply-check" }),
          h("button", { class: "full", type: "submit" }, "办结"))),
      deadlinePanel(t, open, admin, extend, decide),
      (t.supervision.length || (open && admin)) && h("div", { class: "panel", id: "supervision" }, h("h2", {}, "督办"),
        h("ul", { class: "history" }, t.supervision.map((n) =>
          h("li", {}, h("span", { class: "muted" }, time(n.created_at)), ` ${n.actor}：`, maskedText(n.note)))),
        open && admin && h("form", { id: "supervise", onsubmit: superviseNote, style: "margin-top:8px" },
          h("textarea", { class: "full", name: "note", required: true, maxlength: 1000, placeholder: "督办意见（部门可见）" }),
          h("button", { class: "full", type: "submit" }, "发送督办"))),
      t.feedback.length > 0 && h("div", { class: "panel", id: "feedback" }, h("h2", {}, "群众评价（回访）"),
        h("ul", { class: "history" }, t.feedback.map((f) => h("li", {},
          h("span", { class: "muted" }, time(f.created_at)), " ",
          h("span", { class: `tag ${f.verdict === "不满意" ? "neg" : "pos"}` }, f.verdict), f.solved ? " 已解决" : " 未解决",
          f.reopened && h("b", {}, "，已退回重办"), f.comment && h("div", { class: "comment" }, maskedText(f.comment)))))),
      h("div", { class: "panel" }, h("h2", {}, "处理记录"),
        h("ul", { class: "history" }, t.history.map(historyLine)))),
    h("section", { class: "panel", id: "similar" }, h("h2", {}, "相似历史案例"), h("p", { class: "muted" }, "检索中…"))));
  showAssist(t, document.getElementById("similar"));
}

function deadlinePanel(t, open, admin, extend, decide) {
  const pending = t.extensions.find((e) => e.status === "pending");
  return h("div", { class: "panel", id: "deadline" }, h("h2", {}, "办理时限"),
    h("p", {}, time(t.due_at), " ", dueTag(t), t.due_rule && h("span", { class: "muted" }, `（规则：${t.due_rule}）`)),
    t.extensions.length > 0 && h("ul", { class: "history" }, t.extensions.map((e) => h("li", { "data-extension": e.id },
      h("span", { class: "muted" }, time(e.created_at)), ` ${e.requested_by} 申请延至 ${time(e.requested_due_at)}：`,
      maskedText(e.reason), " ", h("b", {}, EXTENSION[e.status]), e.decided_by && h("span", { class: "muted" }, `（${e.decided_by}）`),
      e.status === "pending" && admin && [" ",
        h("button", { class: "approve", onclick: () => decide(e.id, "approve") }, "批准"), " ",
        h("button", { class: "secondary refuse", onclick: () => decide(e.id, "refuse") }, "驳回")]))),
    open && !pending && h("form", { id: "extend", onsubmit: extend, style: "margin-top:8px" },
      h("label", {}, "延至"), h("input", { type: "datetime-local", name: "due_at", required: true }),
      h("label", {}, "理由"), h("input", { name: "reason", required: true, maxlength: 1000, placeholder: "必填：为何需要延期" }),
      h("button", { class: "full secondary", type: "submit" }, "申请延期")));
}

// ---- supervision (admins): overdue tickets across departments -----------------------------------------------
async function showSupervision() {
  const data = await api("/api/supervision");
  const busy = data.departments.filter((d) => d.overdue || d.due_soon || d.pending_extensions.length);
  view.replaceChildren(
    h("h1", {}, "督办 ", h("span", { class: "muted" }, `（各部门超期工单，截至 ${time(data.now)}）`)),
    h("table", { id: "supervision-departments" },
      h("thead", {}, h("tr", {}, ["部门", "超期", "24小时内到期", "待审批延期", "超期工单（超期最久在前）"].map((c) => h("th", {}, c)))),
      h("tbody", {}, busy.length ? busy.map((d) => h("tr", { "data-queue": d.queue },
        h("td", {}, h("a", { href: `#/queue/${d.queue}?due=overdue&order=due` }, d.department)),
        h("td", { class: d.overdue ? "late" : null }, d.overdue), h("td", {}, d.due_soon),
        h("td", {}, d.pending_extensions.map((e) => h("div", {}, h("a", { href: `#/ticket/${e.ticket_id}` }, `#${e.ticket_id}`),
          ` 延至 ${time(e.requested_due_at)}`))),
        h("td", {}, d.tickets.map((t) => h("div", { "data-ticket": t.id },
          h("a", { href: `#/ticket/${t.id}` }, `#${t.id}`), ` ${t.domain} · ${t.appeal} · 超期 ${t.overdue_hours} 小时`,
          t.supervised && h("span", { class: "tag" }, "已督办"))))))
        : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "没有超期或临期工单")))));
}

// ---- similar past cases and hot issues ----------------------------------------------------------------------
const similarity = (x) => (x == null ? "—" : `${Math.round(x * 100)}%`);

async function showAssist(t, box) {
  try {
    const [similar, { hot_issue: issue }] = await Promise.all([
      api(`/api/tickets/${t.id}/similar?k=5`), api(`/api/tickets/${t.id}/hot-issue`)]);
    const empty = similar.case_base_size ? "没有相似案例。" : "案例库尚无案例：服务启动后会在后台建立（进度见服务日志），也可由管理员运行 minsheng cases build。";
    box.replaceChildren(h("h2", {}, "相似历史案例"),
      issue && issue.size + issue.hidden > 1 && h("p", { id: "ticket-hot-issue" }, "属于热点问题 ",
        h("a", { href: `#/hot-issue/${issue.id}` }, `#${issue.id} ${issue.title}`), `（共 ${issue.size + issue.hidden} 件）`),
      similar.cases.length ? h("ol", { class: "cases" }, similar.cases.map((c) => h("li", { "data-case": c.case_id },
        h("div", {}, h("b", {}, similarity(c.similarity)), " ", h("span", { class: "tag domain" }, c.domain),
          c.domain_predicted ? h("span", { class: "muted" }, "（模型判断）") : null, ` ${c.department} `,
          h("span", { class: "muted" }, `${c.source === "ticket" ? `工单 #${c.ticket_id}` : "历史留言"} · ${time(c.answered_at)}`)),
        h("div", { class: "title" }, c.title || "（无标题）"),
        h("div", { class: "text" }, maskedText(c.text)),
        h("details", {}, h("summary", {}, "查看答复"), h("div", { class: "reply" }, maskedText(c.reply))))))
        : h("p", { class: "muted" }, empty));
  } catch (e) {
    box.replaceChildren(h("h2", {}, "相似历史案例"), h("p", { class: "muted" }, e.message));
  }
}

async function showHotIssues(params) {
  const queue = params.get("queue") || "";
  const [{ hot_issues: issues }, { queues }] = await Promise.all([
    api(`/api/hot-issues?limit=50${queue ? `&queue=${encodeURIComponent(queue)}` : ""}`), loadLabels()]);
  const mine = me.queues || Object.keys(queues);
  const rows = issues.map((i) => h("tr", { "data-issue": i.id },
    h("td", {}, h("b", {}, i.heat)),
    h("td", { class: "excerpt" }, h("a", { href: `#/hot-issue/${i.id}` }, h("div", { class: "title" }, `#${i.id} ${i.title}`))),
    h("td", {}, `${i.open} / ${i.size}`), h("td", {}, i.recent),
    h("td", { class: "conf" }, h("div", {}, time(i.first_seen)), h("div", {}, time(i.last_seen))),
    h("td", { class: "kw" }, i.places.join("、") || "—"), h("td", { class: "kw" }, i.keywords.join("、")),
    h("td", { class: "kw" }, [...i.departments.map((d) => `${d.department} ${d.tickets}`),
      ...(i.hidden ? [`其他部门 ${i.hidden}`] : [])].join("、"))));
  view.replaceChildren(
    h("h1", {}, "热点问题 ", h("span", { class: "muted" }, queue ? `（${queues[queue] || queue}）` : me.queues ? "（本部门队列）" : "（全部队列）")),
    h("div", { class: "filters" }, h("label", {}, "队列", select("queue", [["", "全部"], ...mine.map((q) => [q, queues[q] || q])], queue,
      { onchange: (e) => { location.hash = `#/hot-issues${e.target.value ? `?queue=${e.target.value}` : ""}`; } }))),
    h("p", { class: "muted" }, "同一地点、同一问题的重复或相近诉求归为一组；按未办结件数加近 7 天新增件数排序。"),
    h("table", { id: "hot-issues" },
      h("thead", {}, h("tr", {}, ["热度", "问题", "未办结/件数", "近7天", "首次/最近", "地点", "关键词", "涉及部门"].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 8, class: "muted" }, "暂无热点问题")))));
}

async function showHotIssue(id) {
  const issue = await api(`/api/hot-issues/${id}`);
  const resolve = async (event) => {
    event.preventDefault();
    try {
      const done = await api(`/api/hot-issues/${id}/resolve`, { reply: new FormData(event.target).get("reply") });
      const skipped = done.skipped.map((s) => `#${s.ticket_id}（${s.reason}）`).join("、");
      navigate(location.hash, `已统一办结 ${done.resolved.length} 件${skipped ? `；未办结：${skipped}` : ""}`);
    } catch (e) {
      showNotice(e.message, true);
    }
  };
  const rows = issue.tickets.map((t) => h("tr", { "data-ticket": t.id },
    h("td", {}, h("a", { href: `#/ticket/${t.id}` }, `#${t.id}`)),
    h("td", { class: "excerpt" }, h("div", { class: "title" }, t.title || "（无标题）"), h("div", { class: "text" }, maskedText(t.excerpt))),
    h("td", {}, STATUS[t.status], t.claimed_by && h("div", { class: "kw" }, t.claimed_by)),
    h("td", { class: "kw" }, t.department), h("td", { class: "conf" }, similarity(t.similarity)),
    h("td", { class: "conf" }, time(t.created_at))));
  view.replaceChildren(
    h("div", {}, h("a", { href: "#/hot-issues" }, "← 热点问题")),
    h("h1", { style: "margin-top:10px" }, `热点问题 #${issue.id} ${issue.title}`),
    h("dl", { class: "meta panel" }, [["件数", `${issue.size}（未办结 ${issue.open}，近 7 天 ${issue.recent}）${issue.hidden ? `，另有 ${issue.hidden} 件在其他部门` : ""}`],
      ["首次 / 最近", `${time(issue.first_seen)} / ${time(issue.last_seen)}`], ["地点", issue.places.join("、") || "—"],
      ["关键词", issue.keywords.join("、") || "—"], ["涉及部门", issue.departments.map((d) => `${d.department}（${d.tickets} 件）`).join("、")]]
      .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    issue.open > 0 && h("form", { class: "panel", id: "resolve-issue", onsubmit: resolve },
      h("h2", {}, `统一答复：办结本组 ${issue.open} 件未办结工单（逐件记录）`),
      h("textarea", { name: "reply", required: true, maxlength: 5000, placeholder: "答复群众的内容" }),
      h("button", { type: "submit" }, "统一办结")),
    h("table", { id: "issue-tickets" },
      h("thead", {}, h("tr", {}, ["编号", "诉求内容", "状态", "部门", "相似度", "受理时间"].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows)));
}

// ---- charts (hand-drawn SVG) --------------------------------------------------------------------------------
function niceMax(value) {
  const step = 10 ** Math.floor(Math.log10(Math.max(value, 1)));
  return [1, 2, 5, 10].map((m) => m * step).find((m) => m >= value);
}

function legend(entries) {
  return h("div", { class: "legend" }, entries.map(([name, color]) =>
    h("span", {}, h("i", { style: `background:${color}` }), name)));
}

function weeklyChart(data, label = "各领域每周工单量", unit = "件") {
  const W = 1000, H = 300, left = 44, bottom = 28, top = 10;
  const totals = data.weeks.map((_, i) => data.tickets_per_week.reduce((sum, d) => sum + d.counts[i], 0));
  const max = niceMax(Math.max(...totals));
  const band = (W - left) / data.weeks.length;
  const y = (v) => H - bottom - (v / max) * (H - bottom - top);
  // whole numbers of tickets only: a small maximum gets fewer grid lines rather than repeated labels
  const grid = [0, 0.25, 0.5, 0.75, 1].filter((f) => Number.isInteger(max * f)).map((f) => [
    s("line", { x1: left, x2: W, y1: y(max * f), y2: y(max * f), stroke: "#dde3ea" }),
    s("text", { x: left - 6, y: y(max * f) + 4, "text-anchor": "end", "font-size": 11, fill: "#6b7785" }, Math.round(max * f)),
  ]);
  const bars = data.weeks.map((week, i) => {
    let base = 0;
    const x = left + i * band + band * 0.18;
    const stack = data.tickets_per_week.map((d, j) => {
      const n = d.counts[i];
      const rect = n && s("rect", { x, width: band * 0.64, y: y(base + n), height: y(base) - y(base + n),
        fill: PALETTE[j % PALETTE.length] }, s("title", {}, `${d.domain} ${week}：${n} ${unit}`));
      base += n;
      return rect;
    });
    return [stack, s("text", { x: x + band * 0.32, y: H - 10, "text-anchor": "middle", "font-size": 11, fill: "#6b7785" },
      week.slice(5)), totals[i] ? s("text", { x: x + band * 0.32, y: y(totals[i]) - 4, "text-anchor": "middle",
      "font-size": 11 }, totals[i]) : null];
  });
  return [s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label }, grid, bars),
    legend(data.tickets_per_week.map((d, j) => [d.domain, PALETTE[j % PALETTE.length]]))];
}

function sentimentChart(data) {
  const W = 1000, row = 26, left = 120, right = 70;
  const H = data.sentiment_share.length * row + 4;
  const width = W - left - right;
  const rows = data.sentiment_share.map((d, i) => {
    let x = left;
    const segments = data.sentiments.map((name) => {
      const w = d.share[name] * width;
      const seg = w > 0 && [
        s("rect", { x, y: i * row + 4, width: w, height: row - 8, fill: SENTIMENT_COLOR[name] || "#888" },
          s("title", {}, `${d.domain} ${name}：${Math.round(d.share[name] * 100)}%`)),
        w > 34 && s("text", { x: x + w / 2, y: i * row + row / 2 + 4, "text-anchor": "middle", "font-size": 11,
          fill: "#fff" }, `${Math.round(d.share[name] * 100)}%`),
      ];
      x += w;
      return seg;
    });
    return [s("text", { x: left - 8, y: i * row + row / 2 + 4, "text-anchor": "end", "font-size": 12 }, d.domain),
      segments, s("text", { x: W - right + 8, y: i * row + row / 2 + 4, "font-size": 11, fill: "#6b7785" }, `${d.total} 件`)];
  });
  return [s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "各领域情感占比" }, rows),
    legend(data.sentiments.map((name) => [name, SENTIMENT_COLOR[name] || "#888"]))];
}

// the closed loop's rates per department or domain over the period: one bar per rate, the figures beside
const RATES = [["on_time_rate", "按期办结率", "#1f5fa8"], ["satisfaction_rate", "满意率", "#2e7d32"], ["reopen_rate", "重办率", "#d32f2f"]];

function ratesChart(series) {
  const W = 1000, bar = 12, row = RATES.length * bar + 16, left = 150, right = 230;
  const width = W - left - right;
  const H = series.length * row + 4;
  const rows = series.map((d, i) => {
    const y0 = i * row + 6;
    const bars = RATES.map(([key, name, color], j) => {
      const value = d.total[key];
      return [s("rect", { x: left, y: y0 + j * bar, width: Math.max((value || 0) * width, value == null ? 0 : 1), height: bar - 3, fill: color },
        s("title", {}, `${d.name} ${name}：${value == null ? "无数据" : `${Math.round(value * 100)}%`}`)),
        s("text", { x: left + (value || 0) * width + 4, y: y0 + j * bar + bar - 4, "font-size": 10, fill: "#6b7785" },
          value == null ? "—" : `${Math.round(value * 100)}%`)];
    });
    const t = d.total;
    return [s("text", { x: left - 8, y: y0 + row / 2, "text-anchor": "end", "font-size": 12 }, d.name), bars,
      s("text", { x: W - right + 40, y: y0 + row / 2, "font-size": 11, fill: "#6b7785" },
        `办结 ${t.resolved} · 中位 ${t.median_hours == null ? "—" : `${t.median_hours} 小时`} · 超期 ${t.overdue} · 评价 ${t.feedback}`)];
  });
  return [s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "按期办结率、满意率、重办率" }, rows),
    legend(RATES.map(([, name, color]) => [name, color]))];
}

async function showAnalytics(params) {
  const weeks = params.get("weeks") || "12";
  const by = params.get("by") === "domain" ? "domain" : "department";
  const [data, loop] = await Promise.all([api(`/api/analytics?weeks=${encodeURIComponent(weeks)}`),
    api(`/api/analytics/closed-loop?weeks=${encodeURIComponent(weeks)}`)]);
  const series = loop[`by_${by}`];
  const overdue = { weeks: loop.weeks, tickets_per_week: series.map((d) => ({ domain: d.name, counts: d.weeks.map((w) => w.overdue) })) };
  const loopEmpty = !series.length && h("p", { class: "muted" }, "所选时间内没有办结、超期或评价记录。");
  const overdueEmpty = !series.some((d) => d.total.overdue) && h("p", { class: "muted" }, "所选时间内没有超期工单。");
  const empty = !data.tickets_per_week.length && h("p", { class: "muted" }, "所选时间内没有工单。");
  view.replaceChildren(
    h("h1", {}, "统计分析 ", h("span", { class: "muted" }, me.queues ? "（本部门队列）" : "（全部队列）")),
    h("div", { class: "filters" }, h("label", {}, "时间范围",
      select("weeks", [["4", "近 4 周"], ["8", "近 8 周"], ["12", "近 12 周"], ["26", "近 26 周"], ["52", "近 52 周"]], weeks,
        { onchange: (e) => { location.hash = `#/analytics?weeks=${e.target.value}&by=${by}`; } })),
      h("label", {}, "办理质量",
        select("by", [["department", "按部门"], ["domain", "按领域"]], by,
          { onchange: (e) => { location.hash = `#/analytics?weeks=${weeks}&by=${e.target.value}`; } }))),
    h("div", { class: "charts" },
      h("section", { class: "panel chart", id: "chart-weekly" }, h("h2", {}, "各领域每周工单量"),
        empty || weeklyChart(data)),
      h("section", { class: "panel chart", id: "chart-sentiment" }, h("h2", {}, "各领域情感占比（公众对各政策领域的反应）"),
        empty || sentimentChart(data)),
      h("section", { class: "panel chart", id: "chart-loop" }, h("h2", {}, `办理质量（${by === "domain" ? "按领域" : "按部门"}）：按期办结率、群众满意率、重办率`),
        loopEmpty || ratesChart(series)),
      h("section", { class: "panel chart", id: "chart-overdue" }, h("h2", {}, `每周新增超期工单（${by === "domain" ? "按领域" : "按部门"}）`),
        overdueEmpty || weeklyChart(overdue, "每周新增超期工单", "件超期"))));
}

// ---- routing ------------------------------------------------------------------------------------------------
async function render() {
  showNotice(pendingNotice);
  pendingNotice = null;
  if (!sessionStorage.getItem(TOKEN_KEY)) return showSignIn();
  const [path, query] = location.hash.slice(1).split("?");
  const [, page, arg] = path.split("/");
  const params = new URLSearchParams(query || "");
  try {
    me = me || (await api("/api/me"));
    document.getElementById("nav").hidden = document.getElementById("who").hidden = false;
    document.getElementById("who-name").textContent = `${me.name}（${{ admin: "管理员", official: "办理人员" }[me.role] || me.role}）`;
    document.querySelectorAll("[data-nav]").forEach((a) =>
      a.classList.toggle("active", a.dataset.nav === ({ analytics: "analytics", "hot-issues": "hot-issues", "hot-issue": "hot-issues", supervision: "supervision" }[page] || "queues")));
    document.querySelector("[data-nav=supervision]").hidden = me.role !== "admin";
    if (page === "queue") await showQueue(decodeURIComponent(arg), params);
    else if (page === "ticket") await showTicket(Number(arg), params);
    else if (page === "analytics") await showAnalytics(params);
    else if (page === "hot-issues") await showHotIssues(params);
    else if (page === "hot-issue") await showHotIssue(Number(arg));
    else if (page === "supervision") await showSupervision();
    else await showQueues();
  } catch (e) {
    if (!sessionStorage.getItem(TOKEN_KEY)) showSignIn();
    showNotice(e.message, true);
  }
}

document.getElementById("sign-out").addEventListener("click", () => {
  signOut();
  navigate("#/", "已退出");
});
window.addEventListener("hashchange", render);
render();
