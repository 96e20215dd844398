package dev.underpass.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.function.Consumer;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** The {@code --output} option of a command, and printing its result as text for people or as the API's JSON. */
final class Output {
    /** Lower case, as typed on the command line and shown in picocli's messages. */
    enum Format {
        table,
        json
    }

    @Option(
            names = {"-o", "--output"},
            paramLabel = "FORMAT",
            defaultValue = "table",
            description =
                    "table (for people) or json (the API's JSON, pretty, for scripts and jq). Default: ${DEFAULT-VALUE}.")
    Format format = Format.table;

    @Spec(Spec.Target.MIXEE)
    CommandSpec command;

    boolean json() {
        return format == Format.json;
    }

    PrintWriter out() {
        return command.commandLine().getOut();
    }

    /** Prints {@code result} as JSON, or through {@code text} as text. */
    void print(JsonNode result, Consumer<PrintWriter> text) {
        if (json()) {
            printJson(result);
        } else {
            text.accept(out());
        }
        out().flush();
    }

    void printJson(JsonNode result) {
        try {
            out().println(ApiClient.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(result));
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
