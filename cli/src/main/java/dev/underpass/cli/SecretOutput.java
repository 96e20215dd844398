package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.function.Consumer;
import picocli.CommandLine.Option;

/**
 * The {@code --out FILE} option of a command that creates a secret, and where the secret goes:
 * to FILE (created 0600, never overwritten) with only the metadata printed, or once on stdout
 * on its own labelled line. Never to stderr or a log.
 */
final class SecretOutput {
    @Option(
            names = "--out",
            paramLabel = "FILE",
            description =
                    "Write the secret to FILE (created with mode 0600; refused if FILE exists) and print only its metadata.")
    Path file;

    /** Refuses an existing FILE before anything is created on the gateway, so no secret is lost. */
    void checkFile() {
        if (file == null) {
            return;
        }
        if (Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
            throw new IllegalArgumentException(
                    "--out: " + file + " exists (expected: a new file; a secret never overwrites one)");
        }
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new IllegalArgumentException("--out: " + file + " (expected: a file in an existing directory)");
        }
    }

    /**
     * Prints {@code result}, whose {@code holder.field} is the secret: with {@code --out} the
     * secret is written to the file and left out of what is printed.
     */
    void emit(
            Output output, JsonNode result, JsonNode holder, String field, String label, Consumer<PrintWriter> metadata)
            throws IOException {
        String secret = holder.path(field).asText(null);
        if (secret == null || !(holder instanceof ObjectNode object)) {
            throw new ApiError(0, "the gateway's answer has no " + field + " (expected: the new secret, shown once)");
        }
        if (file != null) {
            write(file, secret);
            object.remove(field);
        }
        output.print(result, out -> {
            metadata.accept(out);
            if (file == null) {
                out.println(label + " (shown once, store it now): " + secret);
            } else {
                out.println(label + " written to " + file + " (mode 0600)");
            }
        });
    }

    private static void write(Path file, String secret) throws IOException {
        // CREATE_NEW with the mode as the file is made: never a moment in which others can read it.
        FileAttribute<?>[] mode =
                FileSystems.getDefault().supportedFileAttributeViews().contains("posix")
                        ? new FileAttribute<?>[] {
                            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))
                        }
                        : new FileAttribute<?>[0];
        try (SeekableByteChannel ch =
                Files.newByteChannel(file, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), mode)) {
            ch.write(ByteBuffer.wrap((secret + "\n").getBytes(StandardCharsets.UTF_8)));
        } catch (IOException e) {
            throw new IOException(
                    "--out: cannot write " + file + ": " + e.getClass().getSimpleName()
                            + " (the secret was created on the gateway but not stored: revoke it and try again)",
                    e);
        }
    }
}
