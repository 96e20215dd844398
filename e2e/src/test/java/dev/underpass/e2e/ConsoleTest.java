package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.testkit.UnderpassProcess;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.logging.LoggingPreferences;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.Select;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The web console in a real headless Chromium (Debian's {@code chromium} and
 * {@code chromium-driver}, driven by Selenium) against a real gateway and agent: the whole
 * PrivateLink flow in the browser (the provider publishes, the consumer requests, the provider
 * accepts, the consumer sees {@code available} and a passing Test connection, then a real
 * {@code curl} through the endpoint), a viewer who sees no buttons and whose change the API
 * refuses anyway, a failed sign-in, a change without the CSRF token refused, an agent token and
 * an API key shown once and in no page after (the agent's command, pasted, connects and the page
 * says so), the overview and the audit chain's verification. The browser may resolve {@code localhost} only.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ConsoleTest {
    static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    static Path dir;

    static Tunnel tunnel;
    static ServerProcess web;
    static WebDriver browser;
    static String console;
    static String webEndpoint;
    static UnderpassProcess pasted;

    @BeforeAll
    static void start() throws Exception {
        String chromium = Tools.require("chromium", "chromium");
        String driver = Tools.require("chromedriver", "chromium-driver");
        Path site = Files.createDirectories(dir.resolve("site"));
        Files.writeString(site.resolve("hello.txt"), "hello from acme's network\n");
        int webPort = ServerProcess.freePort();
        web = ServerProcess.start(
                "web",
                dir,
                webPort,
                Tools.require("python3", "python3"),
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                "--directory",
                site.toString(),
                String.valueOf(webPort));
        tunnel = Tunnel.startWithoutAgent(dir);
        tunnel.startAgent("--target", "127.0.0.1:" + webPort);
        console = "https://localhost:" + tunnel.apiPort() + "/console/";

        ChromeOptions options = new ChromeOptions();
        options.setBinary(chromium);
        options.setAcceptInsecureCerts(true);
        LoggingPreferences logs = new LoggingPreferences();
        logs.enable(LogType.BROWSER, Level.ALL); // the page's console, for failure messages
        options.setCapability(
                "goog:loggingPrefs", logs); // the gateway's own CA, which this browser profile does not know
        options.addArguments(
                "--headless=new",
                "--no-sandbox", // the tests run as root
                "--disable-dev-shm-usage",
                "--window-size=1280,900",
                "--user-data-dir=" + dir.resolve("chromium-profile"),
                // Nothing but the gateway on localhost: no update, sync or safe-browsing traffic.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
                "--no-proxy-server",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--disable-domain-reliability",
                "--no-first-run");
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(new File(driver))
                .usingAnyFreePort()
                .withLogFile(dir.resolve("chromedriver.log").toFile())
                .build();
        browser = new ChromeDriver(service, options);
    }

    @AfterAll
    static void stop() throws Exception {
        if (browser != null) {
            browser.quit();
        }
        if (pasted != null) {
            pasted.close();
        }
        if (tunnel != null) {
            tunnel.close();
        }
        if (web != null) {
            web.close();
        }
    }

    @Test
    @Order(1)
    void aWrongKeyIsRefusedAndShowsNothing() {
        browser.get(console);
        signIn("upk_this-is-not-a-key-of-this-gateway");
        WebElement error = await(By.id("sign-in-error"));
        wait(d -> !error.getText().isEmpty());
        assertThat(error.getText()).startsWith("Sign-in failed").contains("not recognised");
        assertThat(browser.findElement(By.id("nav")).isDisplayed()).isFalse();
    }

    @Test
    @Order(2)
    void theProviderPublishesTheConsumerRequestsTheProviderAcceptsAndTheEndpointCarriesCurl() throws Exception {
        // acme publishes its web server for platform.
        signInAs(tunnel.acmeKey());
        go("#/services", "Services");
        type("service-name", "web");
        type("service-port", "80");
        type("service-target", web.address());
        type("service-allow", "platform");
        browser.findElement(By.id("publish")).click();
        await(By.cssSelector("tr[data-service='web']"));
        screenshot("services");
        signOut();

        // platform requests an endpoint to it from the services offered to it.
        signInAs(tunnel.platformKey());
        go("#/endpoints", "Endpoints");
        new Select(await(By.id("offer"))).selectByValue("acme/web");
        browser.findElement(By.id("request")).click();
        wait(d -> endpointOf("acme/web") != null);
        webEndpoint = endpointOf("acme/web");
        await(By.cssSelector("tr[data-endpoint='" + webEndpoint + "'] .state-pendingAcceptance"));
        signOut();

        // acme sees the request waiting and accepts it.
        signInAs(tunnel.acmeKey());
        go("#/endpoints", "Endpoints");
        await(By.id("accept-" + webEndpoint));
        screenshot("endpoints-provider");
        browser.findElement(By.id("accept-" + webEndpoint)).click();
        await(By.cssSelector("tr[data-endpoint='" + webEndpoint + "'] .state-pending, tr[data-endpoint='" + webEndpoint
                + "'] .state-available"));
        signOut();

        // platform's page turns available by itself (live updates), and Test connection passes.
        signInAs(tunnel.platformKey());
        go("#/endpoints/" + webEndpoint, "Endpoint " + webEndpoint);
        wait(d -> "available".equals(text("#endpoint-state")));
        browser.findElement(By.id("test-connection")).click();
        wait(d -> text(".verdict") != null);
        @SuppressWarnings("unchecked")
        List<String> verdicts = (List<String>) ((JavascriptExecutor) browser)
                .executeScript("return [...document.querySelectorAll('.verdict')].map(e => e.textContent);");
        assertThat(verdicts).hasSizeGreaterThan(1).containsOnly("pass");
        screenshot("endpoint");

        assertThat(text("#proxy-env")).contains("underpass env", ":" + tunnel.proxyPort() + "\n", webEndpoint);
        wait(d -> String.valueOf(text("#history-heading")).equals("History"));
        // A real client through the address the page gives.
        String address = text("td code");
        assertThat(address).matches("127\\.0\\.0\\.1:\\d+");
        Run curl = Run.of(
                dir, Map.of(), 60, Tools.require("curl", "curl"), "-sS", "--fail", "http://" + address + "/hello.txt");
        assertThat(curl.exitCode()).as(curl.output()).isZero();
        assertThat(curl.output()).isEqualTo("hello from acme's network\n");
        signOut();
    }

    @Test
    @Order(3)
    void aViewerSeesNoButtonsAndTheApiRefusesItsChangeAnyway() throws Exception {
        String pending = pendingRequest("api");
        tunnel.api().post(tunnel.acmeKey(), "/v1/users", Map.of("name", "auditor", "role", "viewer"));
        String viewerKey = tunnel.api()
                .post(tunnel.acmeKey(), "/v1/api-keys", Map.of("name", "console", "user", "auditor"))
                .get("key")
                .asText();
        signInAs(viewerKey);
        go("#/endpoints", "Endpoints");
        await(By.cssSelector("tr[data-endpoint='" + pending + "']"));
        assertThat(browser.findElements(By.id("accept-" + pending))).isEmpty();
        assertThat(browser.findElements(By.tagName("button")).stream()
                        .filter(WebElement::isDisplayed)
                        .map(WebElement::getText))
                .containsOnly("Sign out");
        go("#/services", "Services");
        await(By.cssSelector("tr[data-service='web']"));
        assertThat(browser.findElements(By.id("publish"))).isEmpty();

        // What a hand-made request from the viewer's signed-in page gets: 403, and nothing changes.
        assertThat(acceptFromThePage(pending, true)).isEqualTo(403);
        assertThat(state(pending)).isEqualTo("pendingAcceptance");
        signOut();
    }

    @Test
    @Order(4)
    void aChangeWithoutTheCsrfTokenIsRefused() throws Exception {
        signInAs(tunnel.acmeKey());
        String pending = pendingRequest("cache");
        // The session cookie goes with it (same origin), the token does not: what a forged request could do.
        assertThat(acceptFromThePage(pending, false)).isEqualTo(403);
        assertThat(state(pending)).isEqualTo("pendingAcceptance");
        signOut();
    }

    @Test
    @Order(5)
    void anAgentTokenIsShownOnceAndInNoPageAfter() throws Exception {
        signInAs(tunnel.acmeKey());
        go("#/agents", "Agents");
        type("agent-name", "dc2");
        browser.findElement(By.id("create-agent")).click();
        wait(d -> text("#agent-command") != null);
        String command = text("#agent-command");
        assertThat(command).contains("UNDERPASS_AGENT_TOKEN=upa_", "underpass agent --gateway");
        assertThat(command)
                .matches("UNDERPASS_AGENT_TOKEN=upa_\\S+ underpass agent --gateway \\S+:\\d+ "
                        + "--pin sha256:[0-9a-f]{64} --target HOST:PORT");
        String token = command.substring(command.indexOf("upa_"), command.indexOf(' ', command.indexOf("upa_")));
        // The command, pasted as it is (the target filled in): the agent connects, and the page says so.
        List<String> args = new ArrayList<>(Pattern.compile(" ")
                .splitAsStream(command.substring(command.indexOf("agent ")))
                .toList());
        args.replaceAll(a -> a.equals("HOST:PORT") ? web.address() : a);
        pasted = UnderpassProcess.start(
                "pasted-agent", dir, Map.of("UNDERPASS_AGENT_TOKEN", token), args.toArray(String[]::new));
        wait(d -> String.valueOf(text("#agent-connected")).startsWith("Agent dc2 connected"));
        browser.findElement(By.id("agent-done")).click();
        wait(d -> d.findElements(By.id("agent-command")).isEmpty());
        screenshot("agents"); // after Done: no token in the docs' pictures
        for (String[] page :
                new String[][] {{"#/endpoints", "Endpoints"}, {"#/services", "Services"}, {"#/agents", "Agents"}}) {
            go(page[0], page[1]);
            assertThat(browser.getPageSource())
                    .as(page[0])
                    .doesNotContain(token)
                    .doesNotContain(tunnel.acmeKey());
        }
        browser.navigate().refresh();
        wait(d -> "Agents".equals(text("#view h1")));
        assertThat(browser.getPageSource()).doesNotContain(token).doesNotContain(tunnel.acmeKey());
        JsonNode listed = tunnel.api().get(tunnel.acmeKey(), "/v1/agent-tokens");
        assertThat(listed.toString()).contains("dc2").doesNotContain(token);

        // An API key likewise, and it can be revoked from the page.
        go("#/access", "Users and API keys");
        type("key-name", "ci-runner");
        browser.findElement(By.id("create-key")).click();
        wait(d -> text("#key-text") != null);
        String key = text("#key-text");
        assertThat(key).startsWith("upk_");
        browser.findElement(By.id("key-done")).click();
        wait(d -> text("#key-text") == null);
        String keyId = null;
        for (JsonNode k : tunnel.api().get(tunnel.acmeKey(), "/v1/api-keys").path("items")) {
            if (k.path("name").asText().equals("ci-runner")) {
                keyId = k.path("id").asText();
            }
        }
        await(By.id("revoke-" + keyId)).click();
        String revoked = keyId;
        wait(d -> d.findElements(By.id("revoke-" + revoked)).isEmpty());
        assertThat(browser.getPageSource()).doesNotContain(key);
        signOut();
    }

    @Test
    @Order(6)
    void theOverviewShowsWhatWaitsAndTheAuditPageVerifiesTheChain() throws Exception {
        signInAs(tunnel.acmeKey());
        go("#/overview", "Overview");
        // The two requests of the viewer and CSRF tests still wait for acme.
        wait(d -> String.valueOf(text("#waiting")).startsWith("2 connection request(s) wait"));
        screenshot("overview");
        go("#/audit", "Audit log");
        wait(d -> text("#audit-verify") != null);
        assertThat(text("#audit-verify")).startsWith("The chain of acme is intact");
        type("audit-action", "service.*");
        browser.findElement(By.id("audit-filter")).click();
        wait(d -> {
            @SuppressWarnings("unchecked")
            List<String> actions = (List<String>) ((JavascriptExecutor) d)
                    .executeScript("return [...document.querySelectorAll('tbody tr td:nth-child(3)')]"
                            + ".map(e => e.textContent);");
            return actions.size() >= 3 && actions.stream().allMatch(a -> a.startsWith("service."));
        });
        screenshot("audit");

        // A service changed on its page: its requests no longer wait for acceptance.
        go("#/services", "Services");
        new Select(await(By.id("edit-service"))).selectByValue("cache");
        WebElement acceptance = browser.findElement(By.id("edit-acceptance"));
        if (acceptance.isSelected()) {
            acceptance.click();
        }
        browser.findElement(By.id("save-service")).click();
        wait(d -> {
            try {
                return !tunnel.api()
                        .get(tunnel.acmeKey(), "/v1/services/cache")
                        .path("acceptanceRequired")
                        .asBoolean();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        signOut();
    }

    // --- helpers -----------------------------------------------------------------------------

    private static void signInAs(String key) {
        browser.get(console);
        signIn(key);
        await(By.id("sign-out"));
        wait(d -> d.findElement(By.id("sign-out")).isDisplayed());
        assertThat(browser.getPageSource())
                .as("the key is not kept in the page")
                .doesNotContain(key);
    }

    private static void signIn(String key) {
        WebElement field = await(By.id("api-key"));
        wait(d -> field.isDisplayed());
        field.clear();
        field.sendKeys(key);
        browser.findElement(By.cssSelector("#sign-in button[type=submit]")).click();
    }

    private static void signOut() {
        browser.findElement(By.id("sign-out")).click();
        wait(d -> d.findElement(By.id("api-key")).isDisplayed());
    }

    /** Opens page {@code hash} and waits until it shows its heading {@code title}. */
    private static void go(String hash, String title) {
        browser.get(console + hash);
        wait(d -> title.equals(text("#view h1")));
    }

    /**
     * The text of the first element {@code css} selects, or null, read in one step: the page redraws
     * itself when its data changes, so an element found a moment ago may be gone.
     */
    private static String text(String css) {
        return (String) ((JavascriptExecutor) browser)
                .executeScript("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css);
    }

    /**
     * The status of {@code POST /v1/endpoints/ID/accept} sent by a script in the signed-in page, with
     * the session's cookie and, when {@code withToken}, its CSRF token (which the page can ask for).
     */
    private static int acceptFromThePage(String endpoint, boolean withToken) {
        Object status = ((JavascriptExecutor) browser)
                .executeAsyncScript(
                        "const [id, withToken, done] = arguments;"
                                + "fetch('/console/session').then(r => r.json()).then(s => fetch('/v1/endpoints/' + id"
                                + " + '/accept', {method: 'POST', headers: Object.assign({'content-type':"
                                + " 'application/json'}, withToken ? {'underpass-csrf': s.csrf} : {}), body: '{}'}))"
                                + ".then(r => done(r.status));",
                        endpoint,
                        withToken);
        return ((Number) status).intValue();
    }

    /** A new service of acme allowed to platform, and platform's endpoint to it, waiting for acme's decision. */
    private static String pendingRequest(String service) throws Exception {
        tunnel.api()
                .post(
                        tunnel.acmeKey(),
                        "/v1/services",
                        Map.of(
                                "name",
                                service,
                                "allowedPrincipals",
                                List.of("platform"),
                                "listeners",
                                List.of(Map.of("port", 80, "targets", List.of("127.0.0.1:9")))));
        return tunnel.api()
                .post(tunnel.platformKey(), "/v1/endpoints", Map.of("service", "acme/" + service))
                .get("id")
                .asText();
    }

    private static void type(String id, String text) {
        WebElement e = await(By.id(id));
        e.clear();
        e.sendKeys(text);
    }

    private static WebElement await(By by) {
        return until(ExpectedConditions.presenceOfElementLocated(by));
    }

    private static void wait(java.util.function.Function<WebDriver, Boolean> condition) {
        until(condition::apply);
    }

    /** Waits for {@code condition}; on time-out, says what the page showed and what its scripts logged. */
    private static <T> T until(org.openqa.selenium.support.ui.ExpectedCondition<T> condition) {
        try {
            return new WebDriverWait(browser, WAIT).until(condition);
        } catch (org.openqa.selenium.TimeoutException e) {
            StringBuilder log = new StringBuilder();
            browser.manage()
                    .logs()
                    .get(LogType.BROWSER)
                    .forEach(entry -> log.append("\n  ").append(entry));
            throw new AssertionError(
                    "not within " + WAIT.toSeconds() + "s at " + browser.getCurrentUrl() + "; the page's text:\n"
                            + browser.findElement(By.tagName("body")).getText() + "\nits console:" + log,
                    e);
        }
    }

    /** Platform's endpoint to {@code service}, or null. */
    private static String endpointOf(String service) {
        try {
            for (JsonNode e :
                    tunnel.api().get(tunnel.platformKey(), "/v1/endpoints").path("items")) {
                if (e.path("service").asText().equals(service)) {
                    return e.path("id").asText();
                }
            }
            return null;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static String state(String endpoint) throws Exception {
        return tunnel.api()
                .get(tunnel.platformKey(), "/v1/endpoints/" + endpoint)
                .path("state")
                .asText();
    }

    /** Saves the page as it looks now under target/console-screenshots (docs/console/ has copies). */
    private static void screenshot(String name) throws Exception {
        ((JavascriptExecutor) browser).executeScript("window.scrollTo(0, 0)");
        Path to = Files.createDirectories(Path.of("target", "console-screenshots"))
                .resolve(name + ".png");
        Files.copy(
                ((TakesScreenshot) browser).getScreenshotAs(OutputType.FILE).toPath(),
                to,
                StandardCopyOption.REPLACE_EXISTING);
    }
}
