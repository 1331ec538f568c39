"""The portal's words in English and Chinese, and how a request picks its language.

The language is the ``ag_lang`` cookie (set by the language switch) or else the best match in
``Accept-Language`` (RFC 9110 §12.5.4); English when neither names Chinese.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")
LANG_COOKIE = "ag_lang"

MESSAGES: dict[str, tuple[str, str]] = {
    "title": ("attestgate portal", "attestgate 门户"),
    "lang.switch": ("中文", "English"),
    "nav.requests": ("Pending requests", "待处理的请求"),
    "nav.consents": ("My consents", "我的授权"),
    "nav.activity": ("Activity", "使用记录"),
    "nav.assets": ("My assets", "我的资产"),
    "nav.checkpoint": ("Checkpoint", "检查点"),
    "nav.events": ("Audit events", "审计事件"),
    "nav.logout": ("Sign out", "退出"),
    "login.title": ("Sign in", "登录"),
    "login.help": (
        "Paste a bearer token from your identity provider (locally: `attestgate token`).",
        "请粘贴身份提供方签发的令牌（本地开发：`attestgate token`）。",
    ),
    "login.token": ("Token", "令牌"),
    "login.submit": ("Sign in", "登录"),
    "login.mode_oidc": (
        "Sign in with your organisation's identity provider (OpenID Connect).",
        "使用您所在机构的身份提供方登录（OpenID Connect）。",
    ),
    "login.mode_token": (
        "Development mode: sign in by pasting a bearer token. No identity provider is configured.",
        "开发模式：粘贴持有者令牌登录。尚未配置身份提供方。",
    ),
    "login.oidc_submit": ("Sign in with the identity provider", "通过身份提供方登录"),
    "login.idp": (
        "The identity provider cannot be reached. Try again in a minute.",
        "无法连接身份提供方，请稍后重试。",
    ),
    "login.state": (
        "This sign-in link has expired or was not started here. Please sign in again.",
        "此登录链接已过期或并非从本站发起，请重新登录。",
    ),
    "login.denied": (
        "The sign-in was cancelled at the identity provider.",
        "已在身份提供方处取消登录。",
    ),
    "login.oidc": (
        "The identity provider's answer was not accepted. Please sign in again.",
        "身份提供方的应答未被接受，请重新登录。",
    ),
    "login.no_owner_title": ("No consent owner for this account", "此账户没有对应的授权人"),
    "login.no_owner": (
        "You signed in at the identity provider, but this account is not linked to any data "
        "owner or regulator here, so no session was started. Ask your administrator to link it, "
        "or sign in with another account.",
        "您已在身份提供方处登录，但此账户在本站未关联任何数据所有人或监管方，因此未建立会话。"
        "请联系管理员关联账户，或使用其他账户登录。",
    ),
    "login.signed_in": ("You are signed in.", "您已登录。"),
    "login.continue": ("Continue", "继续"),
    "login.failed": ("The token was not accepted.", "令牌未被接受。"),
    "login.bound_mismatch": (
        "This token is bound to a client certificate (RFC 8705) that your browser did not "
        "present. Sign in from a browser that holds that certificate.",
        "此令牌已绑定客户端证书（RFC 8705），但您的浏览器未出示该证书。"
        "请使用持有该证书的浏览器登录。",
    ),
    "login.bound_unsupported": (
        "This token is bound to a client certificate (RFC 8705), and this portal does not ask "
        "for client certificates (the gateway runs without tls_client_auth), so it cannot check "
        "the binding. Use an unbound token, or ask the operator to turn on tls_client_auth.",
        "此令牌已绑定客户端证书（RFC 8705），但本门户不要求客户端证书（网关未启用 "
        "tls_client_auth），无法核验绑定。请使用未绑定的令牌，或请运维人员启用 tls_client_auth。",
    ),
    "signed_in_as": ("Signed in as {subject} ({role})", "当前用户：{subject}（{role}）"),
    "requests.title": ("Pending consent requests", "待处理的授权请求"),
    "requests.none": ("No pending requests.", "没有待处理的请求。"),
    "requests.from": ("{bank} asks for your consent", "{bank} 请求您的授权"),
    "requests.purpose": ("Purpose", "用途"),
    "requests.bank": ("Bank", "银行"),
    "requests.amount": ("Amount", "金额"),
    "requests.record": ("Record", "记录"),
    "requests.latest": ("your latest", "您的最新记录"),
    "requests.asked": ("Asked", "提出时间"),
    "requests.disclosed": (
        "Would be disclosed (untick what you do not want to share)",
        "将会披露的信息（可取消勾选您不愿分享的项目）",
    ),
    "requests.never": ("Never shared", "绝不分享"),
    "requests.not_requested": ("Not requested, not shared", "未请求，不会分享"),
    "requests.validity": ("Valid for", "有效期"),
    "requests.uses": ("Number of uses", "可使用次数"),
    "requests.expires": ("Answer before", "请在此之前答复"),
    "requests.approve": ("Approve", "同意"),
    "requests.reject": ("Reject", "拒绝"),
    "requests.approved": (
        "Approved: consent {consent} is active.",
        "已同意：授权 {consent} 已生效。",
    ),
    "requests.rejected": ("Rejected.", "已拒绝。"),
    "flag.separate": (
        "Needs your separate consent (sensitive personal information, PIPL art. 29)",
        "需要您的单独同意（敏感个人信息，《个人信息保护法》第二十九条）",
    ),
    "flag.cross_border": (
        "The result may leave the country (cross-border transfer, PIPL art. 39)",
        "结果可能向境外提供（跨境传输，《个人信息保护法》第三十九条）",
    ),
    "days": ("{n} days", "{n} 天"),
    "hours": ("{n} hours", "{n} 小时"),
    "consents.title": ("Consents you gave", "您给出的授权"),
    "consents.none": ("You have not given any consent.", "您尚未给出任何授权。"),
    "consents.to": ("To", "授权给"),
    "consents.claims": ("Discloses", "披露"),
    "consents.state": ("State", "状态"),
    "consents.until": ("Valid until", "有效至"),
    "consents.uses": ("Uses", "已用次数"),
    "consents.pause": ("Pause", "暂停"),
    "consents.resume": ("Resume", "恢复"),
    "consents.revoke": ("Revoke", "撤销"),
    "state.ACTIVE": ("ACTIVE", "有效"),
    "state.PAUSED": ("PAUSED", "已暂停"),
    "state.REVOKED": ("REVOKED", "已撤销"),
    "state.EXPIRED": ("EXPIRED", "已过期"),
    "state.EXHAUSTED": ("EXHAUSTED", "已用完"),
    "consents.changed": (
        "Consent {consent} is now {state}.",
        "授权 {consent} 现在的状态：{state}。",
    ),
    "receipt.approved": ("Download the receipt of your approval", "下载同意授权的收据"),
    "receipt.revoked": ("Download the receipt of your revocation", "下载撤销授权的收据"),
    "receipt.help": (
        "Signed by the gateway and proved in the audit log: anyone can check it offline "
        '(docs/consent.md, "Consent receipts").',
        "由网关签名并在审计日志中证明：任何人都可以离线核验"
        "（见 docs/consent.md“Consent receipts”）。",
    ),
    "receipt.pending": (
        "The receipt is not ready yet: the audit log has not signed a checkpoint that covers this "
        "step. Try again in a few seconds.",
        "收据尚未就绪：审计日志还没有签署覆盖此操作的检查点。请几秒钟后重试。",
    ),
    "receipt.none": (
        "There is no receipt for this step: it did not happen, or it happened before receipts "
        "existed.",
        "此操作没有收据：该操作未发生，或发生在收据功能上线之前。",
    ),
    "activity.title": ("Everything that happened about you", "与您有关的全部记录"),
    "activity.none": ("Nothing yet.", "暂无记录。"),
    "assets.title": ("The assets you hold", "您持有的资产"),
    "assets.help": (
        "Warehouse receipts and patents registered to you, and everything that happened to them.",
        "登记在您名下的仓单和专利，以及它们的全部经历。",
    ),
    "assets.none": ("You hold no asset.", "您名下没有资产。"),
    "assets.kind": ("Kind", "类别"),
    "assets.id": ("Number", "编号"),
    "assets.history": ("History", "历史"),
    "history.title": ("History of {asset}", "{asset} 的历史"),
    "history.help": (
        "Every event from the audit log, oldest first, up to its signed checkpoint of size {size}.",
        "审计日志中的全部事件，按时间先后排列，截至大小为 {size} 的已签名检查点。",
    ),
    "history.holder": ("Holder", "持有人"),
    "history.you": ("you", "您"),
    "history.other": ("another holder", "其他持有人"),
    "history.record.put": ("Registered or updated", "登记或更新"),
    "history.record.transferred": ("Transferred", "转让"),
    "history.attestation.redeemed": ("Pledged", "质押"),
    "history.pledge.released": ("Pledge released", "解除质押"),
    "history.record.erased": ("Holder's data erased", "持有人数据已删除"),
    "col.index": ("#", "序号"),
    "col.time": ("Time (UTC)", "时间（UTC）"),
    "col.type": ("Event", "事件"),
    "col.local_time": ("Time", "时间"),
    "col.what": ("What happened", "发生了什么"),
    "col.by": ("By", "操作方"),
    "col.actor": ("Actor", "操作方"),
    "col.subject": ("Subject (pseudonym)", "主体（假名）"),
    "col.decision": ("Decision", "结果"),
    "col.reason": ("Reason", "原因"),
    "col.claims": ("Claims", "声明"),
    "col.disclosed": ("Disclosed", "披露内容"),
    "col.objects": ("Objects", "对象"),
    "col.budget": ("Evaluations used / allowed", "已用 / 允许的评估次数"),
    "budget.renews": ("renews {at}", "{at} 重置"),
    "more": ("More", "更多"),
    "checkpoint.title": ("Latest checkpoint", "最新检查点"),
    "checkpoint.none": ("The log has no checkpoint yet.", "日志尚无检查点。"),
    "checkpoint.origin": ("Log", "日志"),
    "checkpoint.size": ("Tree size", "树大小"),
    "checkpoint.root": ("Root hash", "根哈希"),
    "checkpoint.key": ("Verified with key", "验证公钥"),
    "checkpoint.signed": ("Signed note", "签名注记"),
    "events.title": ("Audit events", "审计事件"),
    "events.filter": ("Filter", "筛选"),
    "events.any": ("any", "全部"),
    "events.since": ("From (UTC date)", "起始日期（UTC）"),
    "events.until": ("Until (UTC date)", "截止日期（UTC）"),
    "events.none": ("No event matches.", "没有匹配的事件。"),
    "event.title": ("Event {index}", "事件 {index}"),
    "event.leaf_hash": ("Leaf hash", "叶哈希"),
    "event.proof": ("Inclusion proof", "包含性证明"),
    "event.verified": (
        "Verified: this event is in the log checkpoint of size {size}, signed by the log key.",
        "已验证：该事件包含在大小为 {size} 的日志检查点中，检查点由日志密钥签名。",
    ),
    "event.failed": ("Verification FAILED: {why}", "验证失败：{why}"),
    "event.pending": (
        "Not yet covered by a signed checkpoint; reload in a moment.",
        "尚未被已签名的检查点覆盖，请稍后刷新。",
    ),
    "event.receipt": ("Download tlog-proof receipt", "下载 tlog-proof 收据"),
    "error.title": ("Something went wrong", "出错了"),
    "error.forbidden": ("You may not do this.", "您无权执行此操作。"),
    "error.csrf": (
        "The form was stale or not sent by this site. Reload the page and try again.",
        "表单已过期或不是由本网站发出。请刷新页面后重试。",
    ),
    "error.not_found": ("Not found.", "未找到。"),
    "error.refused": ("Refused: {reason}", "被拒绝：{reason}"),
    "back": ("Back", "返回"),
}


def translate(key: str, lang: Lang, **values: object) -> str:
    """The text of ``key`` in ``lang`` with ``values`` filled in (the key itself if unknown)."""
    pair = MESSAGES.get(key)
    text = key if pair is None else pair[LANGS.index(lang)]
    return text.format(**values) if values else text


def _weighted(header: str) -> list[tuple[float, str]]:
    ranges = []
    for item in header.split(",")[:20]:
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        ranges.append((weight, tag.strip().lower()))
    return sorted(ranges, key=lambda pair: -pair[0])


def choose_lang(cookie: str | None, accept_language: str | None) -> Lang:
    """The page language: the cookie if valid, else the best Accept-Language match, else English."""
    if cookie == "zh":
        return "zh"
    if cookie == "en":
        return "en"
    for weight, tag in _weighted(accept_language or ""):
        if weight <= 0:
            continue
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en"
