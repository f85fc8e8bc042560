"""The web client in a real Chromium against a real node (embedded store).

One browser and one node for the module; each test makes its people, each
in a browser context of their own (their own storage, so their own login),
and drives the pages as a person would: by role and label, with the
keyboard where a person would use it. Every page runs under the node's CSP
(Trusted Types required); a page error or a CSP violation fails the test
that caused it. Screenshots of the main screens go to var/screenshots.

The Python client library plays the parts a browser need not: seeding a
long history, and a device of someone who sends while the browsers are cut
off.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from attrs import define, field
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from client import Connection
from protocol import BlockRequest, Limits, UnblockRequest

from ..node.people import PASSWORD, username
from .live import LiveNode

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
#: Headless Debian chromium on a machine without a network or a GPU: no
#: QUIC, no component updates or sync pinging out, no sandbox (root).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Pings every second, and a user goes offline three seconds after their
#: last device, so presence changes show within a test; a burst of sends
#: large enough to seed a long history at once.
LIMITS = Limits(heartbeat=1, idle_heartbeats=3, send_burst=1000)

#: Runs in every page before its scripts: records what the CSP blocked and
#: whether a script injected through a message body ever ran.
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__violations.push([event.violatedDirective, event.blockedURI, event.sample].join(' '));
});
"""

WORKER_POLICY_REFUSED = "trusted-types trusted-types-policy chat-worker"

#: The service worker's registration, or null after 10 s (a refused
#: registration never makes `ready` settle).
WORKER_READY = """
Promise.race([
  navigator.serviceWorker.ready,
  new Promise((resolve) => setTimeout(() => resolve(null), 10000)),
])
"""

expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    node = LiveNode(tmp_path_factory.mktemp("web") / "chat.db", {"limits": LIMITS})
    node.open()
    node.start()
    yield node
    node.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
    yield launched
    launched.close()


@define
class Person:
    """Someone at a browser: a context of their own (storage, login) and its pages."""

    name: str
    context: BrowserContext
    origin: str
    pages: list[Page] = field(factory=list)
    errors: list[str] = field(factory=list)

    @property
    def page(self) -> Page:
        return self.pages[0]

    def open_tab(self) -> Page:
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.goto(self.origin)
        self.pages.append(page)
        return page

    def register(self, device: str = "laptop") -> None:
        page = self.page
        page.get_by_role("button", name="Create an account").click()
        self._fill_login(device)
        page.get_by_role("button", name="Register").click()
        expect(page.get_by_role("button", name="New chat")).to_be_visible()

    def log_in(self, device: str = "laptop") -> None:
        self._fill_login(device)
        self.page.get_by_role("button", name="Log in", exact=True).click()
        expect(self.page.get_by_role("button", name="New chat")).to_be_visible()

    def _fill_login(self, device: str) -> None:
        page = self.page
        page.get_by_label("Username").fill(self.name)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("This device's name").fill(device)

    def start_direct(self, other: str, page: Page | None = None) -> None:
        page = page or self.page
        page.get_by_role("button", name="New chat").click()
        dialog = page.get_by_role("dialog", name="New chat")
        dialog.get_by_label("Username").fill(other)
        dialog.get_by_role("button", name="Start chat").click()
        expect(page.get_by_role("heading", name=other)).to_be_visible()

    def say(self, text: str, page: Page | None = None) -> None:
        """Type into the composer and press Enter."""
        page = page or self.page
        composer = page.locator("#composer")
        composer.fill(text)
        composer.press("Enter")

    def channel_item(self, title: str, page: Page | None = None):  # noqa: ANN201 (a Locator)
        return (page or self.page).get_by_role("button", name=re.compile(f"^{re.escape(title)}[,]?"))

    def timeline(self, page: Page | None = None):  # noqa: ANN201
        return (page or self.page).get_by_role("log")

    def channel_id(self, page: Page | None = None) -> int:
        match = re.search(r"#channel=(\d+)$", (page or self.page).url)
        assert match is not None, (page or self.page).url
        return int(match.group(1))

    def screenshot(self, name: str, page: Page | None = None) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (page or self.page).screenshot(path=str(SCREENSHOTS / f"{name}.png"))

    def check_clean(self) -> None:
        """No page error, and nothing the CSP had to block but the worker's policy.

        The app asks for its one Trusted Types policy (`chat-worker`, to
        register the service worker); a CSP that allows none refuses it, and
        the app runs on without a worker. That refusal is the service worker
        tests' failure, not every test's.
        """
        assert self.errors == []
        for page in self.pages:
            if not page.is_closed():
                violations = page.evaluate("window.__violations")
                assert [seen for seen in violations if seen != WORKER_POLICY_REFUSED] == []


People = Callable[..., Person]


@pytest.fixture
def people(browser: Browser, live: LiveNode) -> Iterator[Callable[..., Person]]:
    opened: list[Person] = []

    def person(prefix: str, *, exact: bool = False, color_scheme: str = "light") -> Person:
        context = browser.new_context(viewport={"width": 1100, "height": 720}, color_scheme=color_scheme)
        context.add_init_script(WATCH)
        someone = Person(prefix if exact else username(prefix), context, live.origin)
        someone.open_tab()
        opened.append(someone)
        return someone

    yield person
    try:
        for someone in opened:
            someone.check_clean()
    finally:
        for someone in opened:
            someone.context.close()


def message(page: Page, text: str):  # noqa: ANN201
    return page.get_by_role("log").locator(".msg .body", has_text=text)


# -- accounts --------------------------------------------------------------


def test_register_then_log_out_and_log_in_again(people: People) -> None:
    alice = people("alice")
    alice.screenshot("log-in")
    alice.register()
    expect(alice.page.locator(".me-name")).to_have_text(alice.name)
    alice.page.get_by_role("button", name="Log out").click()
    expect(alice.page.get_by_role("heading", name="Log in")).to_be_visible()
    # A reload after logging out stays logged out: the token went with it.
    alice.page.reload()
    expect(alice.page.get_by_role("heading", name="Log in")).to_be_visible()
    alice.log_in()
    # And a reload while logged in resumes the session without the password.
    alice.page.reload()
    expect(alice.page.locator(".me-name")).to_have_text(alice.name)


def test_a_wrong_password_is_told_and_nothing_else_happens(people: People) -> None:
    alice = people("alice")
    alice.register()
    alice.page.get_by_role("button", name="Log out").click()
    page = alice.page
    page.get_by_label("Username").fill(alice.name)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")


def test_devices_are_listed_and_a_revoked_one_is_logged_out(people: People) -> None:
    laptop = people("alice")
    laptop.register(device="laptop")
    phone = people(laptop.name, exact=True)
    phone.log_in(device="phone")
    laptop.page.get_by_role("button", name="Devices").click()
    dialog = laptop.page.get_by_role("dialog", name="Your devices")
    expect(dialog.get_by_role("listitem")).to_have_count(2)
    expect(dialog.get_by_role("listitem").filter(has_text="laptop (this device)")).to_have_count(1)
    laptop.screenshot("devices")
    dialog.get_by_role("button", name="Revoke phone").click()
    expect(dialog.get_by_role("listitem")).to_have_count(1)
    expect(phone.page.get_by_role("heading", name="Log in")).to_be_visible()
    # Closing the dialog gives the focus back to the button that opened it.
    laptop.page.keyboard.press("Escape")
    expect(laptop.page.get_by_role("button", name="Devices")).to_be_focused()


# -- chatting --------------------------------------------------------------


def test_direct_chat_both_ways(people: People) -> None:
    # Plain names: this test's screenshots are the README's.
    alice = people("alice", exact=True)
    bob = people("bob", exact=True)
    alice.register()
    bob.register()
    alice.start_direct("bob")
    # The new chat's composer has the focus: one can type at once.
    expect(alice.page.locator("#composer")).to_be_focused()
    alice.say("Hi Bob! Lunch at noon?")
    expect(message(alice.page, "Hi Bob! Lunch at noon?")).to_be_visible()

    # Bob has not looked Alice up: his app knows her id, not her name, until
    # he opens a chat with "alice" (the same channel).
    item = bob.page.locator(".channel-item")
    expect(item).to_have_accessible_name(re.compile(r", 1 unread$"))
    expect(item.locator(".channel-preview")).to_have_text("Hi Bob! Lunch at noon?")
    bob.start_direct("alice")
    expect(item).to_have_count(1)
    expect(message(bob.page, "Hi Bob! Lunch at noon?")).to_be_visible()
    # Shift+Enter is a new line; Enter sends the two lines as one message.
    composer = bob.page.locator("#composer")
    composer.press_sequentially("Sure!")
    composer.press("Shift+Enter")
    composer.press_sequentially("See you at the usual place.")
    composer.press("Enter")
    expect(composer).to_have_value("")
    expect(message(alice.page, "Sure!")).to_have_text("Sure!\nSee you at the usual place.")
    alice.say("Great, see you there!")
    expect(message(bob.page, "Great, see you there!")).to_be_visible()
    expect(alice.page.locator(".seen")).to_have_text("Seen by bob")
    alice.screenshot("direct-chat")
    alice.page.emulate_media(color_scheme="dark")
    alice.screenshot("direct-chat-dark")
    bob.screenshot("direct-chat-bob")


def test_enter_while_an_input_method_composes_does_not_send(people: People) -> None:
    alice = people("alice")
    bob = people("bob")
    alice.register()
    bob.register()
    alice.start_direct(bob.name)
    composer = alice.page.locator("#composer")
    composer.fill("にほんご")
    # The Enter that picks an IME candidate: keydown with isComposing set.
    composer.dispatch_event("keydown", {"key": "Enter", "isComposing": True, "bubbles": True, "cancelable": True})
    expect(composer).to_have_value("にほんご")
    composer.press("Enter")
    expect(composer).to_have_value("")
    expect(message(alice.page, "にほんご")).to_be_visible()


def test_group_chat(people: People) -> None:
    alice, bob, carol = people("alice"), people("bob"), people("carol")
    for someone in (alice, bob, carol):
        someone.register()
    page = alice.page
    page.get_by_role("button", name="New group").click()
    dialog = page.get_by_role("dialog", name="New group")
    dialog.get_by_label("Group name").fill("Weekend trip")
    dialog.get_by_label("Members").fill(f"{bob.name}, {carol.name}")
    dialog.get_by_role("button", name="Create group").click()
    expect(page.get_by_role("heading", name="Weekend trip")).to_be_visible()
    expect(page.locator(".channel-header .subtitle")).to_contain_text("3 members")
    alice.say("Who is driving?")
    for other in (bob, carol):
        item = other.channel_item("Weekend trip")
        expect(item).to_have_accessible_name("Weekend trip, 1 unread")
        item.click()
        expect(message(other.page, "Who is driving?")).to_be_visible()
    carol.say("I can drive.")
    expect(message(alice.page, "I can drive.")).to_be_visible()
    expect(message(bob.page, "I can drive.")).to_be_visible()
    # Alice named Carol when she made the group; Bob's app never met her name.
    expect(alice.page.locator(".msg", has_text="I can drive.").locator(".sender")).to_have_text(carol.name)
    alice.screenshot("group-chat")


def test_unread_counts_and_the_unread_divider(people: People) -> None:
    alice, bob, carol = people("alice"), people("bob"), people("carol")
    for someone in (alice, bob, carol):
        someone.register()
    bob.start_direct(alice.name)
    bob.say("one")
    carol.start_direct(alice.name)
    carol.say("hello from carol")
    alice.start_direct(bob.name)
    expect(message(alice.page, "one")).to_be_visible()
    alice.start_direct(carol.name)
    for text in ("two", "three", "four"):
        bob.say(text)
    bob_item = alice.channel_item(bob.name)
    expect(bob_item).to_have_accessible_name(re.compile(f"^{bob.name}, (online|offline), 3 unread$"))
    expect(bob_item.locator(".badge")).to_have_text("3")
    expect(bob_item.locator(".channel-preview")).to_have_text("four")
    alice.screenshot("unread")
    bob_item.click()
    rows = alice.timeline().locator("li")
    divider = alice.timeline().get_by_role("separator").filter(has_text="New messages")
    expect(divider).to_be_visible()
    texts = rows.evaluate_all("rows => rows.map(row => row.textContent)")
    at = next(i for i, text in enumerate(texts) if text == "New messages")
    assert "one" in texts[at - 1] and "two" in texts[at + 1]
    expect(bob_item.locator(".badge")).to_have_count(0)


def test_history_pages_in_on_scrolling_up(people: People, live: LiveNode) -> None:
    alice, bob = people("alice"), people("bob")
    alice.register()
    bob.register()
    bob.start_direct(alice.name)
    bob.say("message 1")
    channel = bob.channel_id()

    async def seed() -> None:
        async with Connection.open(live.url) as conn:
            credentials = await conn.login(bob.name, PASSWORD, "seeder")
            await conn.auth(credentials.token)
            for n in range(2, 131):
                await conn.send(channel, f"message {n}")

    live.run(seed)
    alice.start_direct(bob.name)
    log = alice.timeline()
    expect(message(alice.page, "message 130")).to_be_visible()
    # The first page is the newest 50; scrolling up brings the rest.
    assert log.locator(".msg").count() < 130
    beginning = alice.page.get_by_text("The beginning of the conversation.")
    while not beginning.is_visible():
        log.evaluate("view => { view.scrollTop = 0; view.dispatchEvent(new Event('scroll')); }")
        alice.page.wait_for_timeout(100)
    bodies = log.locator(".msg .body").all_text_contents()
    assert bodies == [f"message {n}" for n in range(1, 131)]
    expect(alice.page.get_by_role("button", name="Jump to latest ↓")).to_be_visible()
    alice.page.get_by_role("button", name="Jump to latest ↓").click()
    expect(message(alice.page, "message 130")).to_be_in_viewport()
    expect(alice.page.locator("#composer")).to_be_focused()


def test_typing_read_receipts_and_presence(people: People) -> None:
    alice, bob = people("alice"), people("bob")
    alice.register()
    bob.register()
    alice.start_direct(bob.name)
    bob.start_direct(alice.name)
    item = alice.channel_item(bob.name)
    expect(item).to_have_accessible_name(f"{bob.name}, online")
    expect(item.locator(".presence.online")).to_have_count(1)
    bob.page.locator("#composer").press_sequentially("I am wri")
    expect(alice.page.get_by_role("status").filter(has_text="is typing")).to_have_text(f"{bob.name} is typing…")
    alice.say("Take your time.")
    expect(message(bob.page, "Take your time.")).to_be_visible()
    expect(alice.page.locator(".seen")).to_have_text(f"Seen by {bob.name}")
    bob.context.close()
    expect(item).to_have_accessible_name(f"{bob.name}, offline")
    expect(alice.page.locator(".channel-header .subtitle")).to_have_text("Offline")


# -- what goes wrong -------------------------------------------------------


def test_reconnect_after_the_node_restarts(people: People, live: LiveNode) -> None:
    alice, bob = people("alice"), people("bob")
    alice.register()
    bob.register()
    alice.start_direct(bob.name)
    bob.start_direct(alice.name)
    alice.say("before the restart")
    expect(message(bob.page, "before the restart")).to_be_visible()
    channel = alice.channel_id()
    live.stop()
    banner = alice.page.locator(".banner")
    expect(banner).to_have_text("Connection lost. Reconnecting…")
    alice.screenshot("reconnecting")

    # Meanwhile Bob writes from his phone, through a node the browsers
    # cannot reach (another port, the same store): they miss it live.
    elsewhere = LiveNode(live.store_path, live.config)
    elsewhere.open()
    try:
        elsewhere.start()

        async def write_from_phone() -> None:
            async with Connection.open(elsewhere.url) as conn:
                credentials = await conn.login(bob.name, PASSWORD, "phone")
                await conn.auth(credentials.token)
                await conn.send(channel, "sent while you were away")
                await conn.send(channel, "and another one")

        elsewhere.run(write_from_phone)
    finally:
        elsewhere.close()

    live.start()
    expect(banner).to_be_empty()
    expect(message(alice.page, "sent while you were away")).to_be_visible()
    expect(message(alice.page, "and another one")).to_be_visible()
    expect(message(bob.page, "and another one")).to_be_visible()
    alice.say("after the restart")
    expect(message(bob.page, "after the restart")).to_be_visible()


def test_a_refused_message_fails_and_is_retried(people: People, live: LiveNode) -> None:
    alice, bob = people("alice"), people("bob")
    alice.register()
    bob.register()
    bob.start_direct(alice.name)

    async def as_alice(request_type: type) -> None:
        async with Connection.open(live.url) as conn:
            credentials = await conn.login(alice.name, PASSWORD, "script")
            await conn.auth(credentials.token)
            bob_id = await conn.lookup(bob.name)
            await conn.request(request_type(0, bob_id))

    live.run(as_alice, BlockRequest)
    bob.say("please unblock me")
    pending = bob.page.locator(".msg.pending", has_text="please unblock me")
    expect(pending.locator(".msg-state")).to_contain_text("Not sent")
    bob.screenshot("failed-message")
    live.run(as_alice, UnblockRequest)
    pending.get_by_role("button", name="Retry").click()
    expect(pending).to_have_count(0)
    expect(message(bob.page, "please unblock me")).to_be_visible()
    alice.start_direct(bob.name)
    expect(message(alice.page, "please unblock me")).to_have_count(1)


def test_markup_in_a_body_is_shown_as_text(people: People) -> None:
    alice, bob = people("alice"), people("bob")
    alice.register()
    bob.register()
    bob.start_direct(alice.name)
    attack = '<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script><b>bold</b>'
    bob.say(attack)
    alice.start_direct(bob.name)
    body = message(alice.page, "onerror")
    expect(body).to_have_text(attack)
    for page in (alice.page, bob.page):
        log = page.get_by_role("log")
        assert log.locator("img, script, b").count() == 0
        assert page.evaluate("window.__pwned") is None
    expect(alice.channel_item(bob.name).locator(".channel-preview")).to_have_text(attack)


def test_a_100000_character_body_is_collapsed(people: People) -> None:
    alice, bob = people("alice"), people("bob")
    alice.register()
    bob.register()
    bob.start_direct(alice.name)
    body = "".join(f"{n:05d} " for n in range(100_000 // 6)) + "x" * (100_000 % 6)
    assert len(body) == 100_000
    bob.say(body)
    alice.start_direct(bob.name)
    shown = alice.timeline().locator(".msg .body").last
    more = alice.timeline().get_by_role("button", name="Show more (100,000 characters)")
    expect(more).to_have_attribute("aria-expanded", "false")
    assert len(shown.text_content() or "") < 1_000
    alice.screenshot("long-body")
    more.click()
    expect(alice.timeline().get_by_role("button", name="Show less")).to_have_attribute("aria-expanded", "true")
    assert shown.text_content() == body


def test_two_tabs_of_one_login_both_see_each_message(people: People) -> None:
    alice, bob = people("alice"), people("bob")
    alice.register()
    bob.register()
    first = alice.page
    second = alice.open_tab()
    expect(second.locator(".me-name")).to_have_text(alice.name)
    alice.start_direct(bob.name, first)
    bob.start_direct(alice.name)
    bob.say("to both tabs")
    alice.start_direct(bob.name, second)
    for page in (first, second):
        expect(message(page, "to both tabs")).to_be_visible()
    alice.say("from the first tab", first)
    expect(message(second, "from the first tab")).to_be_visible()
    expect(message(bob.page, "from the first tab")).to_be_visible()
    alice.say("from the second tab", second)
    expect(message(first, "from the second tab")).to_be_visible()
    expect(message(bob.page, "from the second tab")).to_be_visible()


# -- the app around the chat -------------------------------------------------


def test_installable_with_a_service_worker(people: People) -> None:
    alice = people("alice")
    page = alice.page
    manifest = page.evaluate(
        "fetch(document.querySelector('link[rel=manifest]').href).then(answer => answer.json())"
    )
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/"
    sizes = {icon["sizes"] for icon in manifest["icons"] if icon["type"] == "image/png"}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert page.evaluate("src => fetch(src).then(answer => answer.ok)", icon["src"])
    scope = page.evaluate(f"{WORKER_READY}.then(registration => registration && registration.scope)")
    assert scope == alice.origin + "/", "no service worker: the CSP must allow the Trusted Types policy chat-worker"
    page.reload()
    assert page.evaluate("navigator.serviceWorker.controller !== null")


def test_a_message_to_a_hidden_tab_becomes_a_notification(people: People) -> None:
    alice, bob = people("alice"), people("bob")
    alice.context.grant_permissions(["notifications"], origin=alice.origin)
    alice.page.reload()
    alice.register()
    bob.register()
    alice.start_direct(bob.name)
    alice.page.evaluate(
        "Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' })"
    )
    bob.start_direct(alice.name)
    bob.say("are you there?")
    channel = str(bob.channel_id())
    notices = alice.page.evaluate(
        """async (tag) => {
          const registration = await """ + WORKER_READY + """;
          if (registration === null) return 'no service worker';
          for (let tries = 0; tries < 100; tries++) {
            const shown = await registration.getNotifications({ tag });
            if (shown.length > 0) return shown.map((notice) => [notice.title, notice.body]);
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
          return [];
        }""",
        f"channel-{channel}",
    )
    assert notices == [[bob.name, "are you there?"]]
