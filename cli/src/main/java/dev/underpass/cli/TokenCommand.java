package dev.underpass.cli;

import dev.underpass.gateway.AgentTokens;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "token", mixinStandardHelpOptions = true, description = "Agent tokens.",
        subcommands = TokenCommand.Generate.class)
final class TokenCommand {
    @Command(name = "generate", mixinStandardHelpOptions = true,
            description = {"Create an agent token. The token goes to --out (mode 600) for the agent host;",
                "the SHA-256 printed is what the gateway configuration stores."})
    static final class Generate implements Callable<Integer> {
        @Option(names = "--out", paramLabel = "FILE", required = true, description = "Write the token to this new file.")
        Path out;

        @Option(names = "--name", defaultValue = "agent", description = "Token name for the gateway configuration.")
        String name;

        @Override
        public Integer call() throws Exception {
            if (Files.exists(out)) {
                throw new IllegalArgumentException("--out: " + out + " (expected: a file that does not exist yet)");
            }
            String token = AgentTokens.generate();
            Files.createFile(out, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.writeString(out, token + "\n");
            System.out.println("token written to " + out + " (keep it secret; it is shown nowhere else)");
            System.out.println("add to the account's agentTokens in gateway.yaml:");
            System.out.println("  - name: " + name);
            System.out.println("    sha256: " + AgentTokens.sha256Hex(token));
            return 0;
        }
    }
}
