package dev.underpass.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code underpass} command. */
@Command(
        name = "underpass",
        mixinStandardHelpOptions = true,
        version = "underpass 0.1.0",
        description = "Self-hosted private connectivity: a gateway on the platform, agents in private networks.",
        subcommands = {
            GatewayCommand.class,
            AgentCommand.class,
            DemoCommand.class,
            LoginCommand.class,
            LogoutCommand.class,
            WhoamiCommand.class,
            AccountCommand.class,
            UserCommand.class,
            KeyCommand.class,
            AgentTokenCommand.class,
            AgentIdentityCommand.class,
            AgentEnrollmentCommand.class,
            AgentCertificateCommand.class,
            ServiceCommand.class,
            EndpointCommand.class,
            EnvCommand.class,
            ConnectionTestCommand.class,
            AuditCommand.class
        })
public final class Main {
    public static void main(String[] args) {
        System.exit(run(args));
    }

    static int run(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            // Configuration and startup errors are for a person: the message, not a stack trace.
            // The API's refusals have their own exit code, so scripts can tell them from usage errors.
            cmd.getErr().println("underpass: " + e.getMessage());
            cmd.getErr().flush();
            return e instanceof ApiError ? ApiError.EXIT_CODE : 2;
        });
        return cl.execute(args);
    }
}
