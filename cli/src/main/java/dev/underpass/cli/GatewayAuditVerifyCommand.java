package dev.underpass.cli;

import dev.underpass.controlplane.audit.AuditChain;
import dev.underpass.controlplane.audit.AuditLog;
import dev.underpass.controlplane.store.Store;
import dev.underpass.gateway.GatewayConfig;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The operator's check of every account's audit chain, straight from the gateway's store (no
 * API, no key): for a gateway that is down, or to check what the API would answer (ADR 0014).
 */
@Command(
        name = "audit-verify",
        mixinStandardHelpOptions = true,
        description = {
            "Verify the audit hash chain of every account directly in the gateway's store.",
            "Opening the store brings its schema up to date, as the gateway does. Exits with " + AuditCommand.BROKEN
                    + " when a chain is broken."
        })
final class GatewayAuditVerifyCommand implements Callable<Integer> {
    @Option(
            names = "--config",
            paramLabel = "FILE",
            description =
                    "Gateway configuration (YAML). Default: DATA_DIR/gateway.yaml if it exists, else the embedded defaults.")
    Path config;

    @Option(
            names = "--data-dir",
            paramLabel = "DIR",
            defaultValue = "${env:UNDERPASS_DATA_DIR:-underpass-data}",
            description = "The gateway's data directory (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(
            names = "--expect-head",
            paramLabel = "ACCOUNT=SEQ:HASH",
            description = "A head the gateway logged earlier ('audit heads:' lines, kept in an external log): that "
                    + "account's chain must pass through it. Repeatable.")
    List<String> heads;

    @Mixin
    Output output;

    @Override
    public Integer call() throws Exception {
        Map<String, AuditChain.Head> expected = new LinkedHashMap<>();
        for (String h : heads == null ? List.<String>of() : heads) {
            int eq = h.indexOf('=');
            if (eq < 1) {
                throw new IllegalArgumentException("--expect-head: '" + h + "' (expected: ACCOUNT=SEQ:HASH, as in the "
                        + "gateway's 'audit heads:' lines)");
            }
            expected.put(h.substring(0, eq), AuditCommand.head("--expect-head", h.substring(eq + 1)));
        }
        Path file = config != null ? config : dataDir.resolve("gateway.yaml");
        GatewayConfig c;
        if (Files.exists(file)) {
            c = GatewayConfig.load(file);
        } else if (config != null) {
            throw new IllegalArgumentException("--config: " + config + " (expected: an existing YAML file)");
        } else {
            c = GatewayConfig.defaults();
        }
        List<AuditChain.Verification> result;
        try (Store store = Store.open(c.storeConfig(dataDir))) {
            result = new AuditLog(store.jdbi(), Clock.systemUTC()).events().verifyAll(expected);
        }
        output.print(ApiClient.JSON.valueToTree(result), out -> print(out, result));
        return result.stream().allMatch(AuditChain.Verification::valid) ? 0 : AuditCommand.BROKEN;
    }

    private static void print(PrintWriter out, List<AuditChain.Verification> result) {
        Table t = Table.of("ACCOUNT", "RECORDS", "HEAD", "VALID", "FIRST BAD SEQ", "PROBLEM");
        for (AuditChain.Verification v : result) {
            t.row(
                    v.account(),
                    String.valueOf(v.records()),
                    v.head().seq() + ":" + v.head().hash(),
                    v.valid() ? "yes" : "NO",
                    v.firstBadSeq() == null ? Text.NONE : String.valueOf(v.firstBadSeq()),
                    v.problem() == null ? Text.NONE : v.problem());
        }
        t.print(out);
    }
}
