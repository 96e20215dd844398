package dev.underpass.protocol;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Private files (keys) that may be sealed with a {@link SecretBox}: read whether sealed or not,
 * written sealed when a box is given, and sealed in place. Every write goes to a temporary file
 * readable only by the owner and is then renamed over the target, so that a crash leaves either
 * the old file or the new one, never half of one.
 */
public final class SealedFiles {
    private SealedFiles() {}

    /**
     * The content of {@code file}, opened when sealed. {@code shown} names the file in errors
     * (for example {@code tls/ca-key.pem}).
     *
     * @throws IOException when it is sealed and {@code box} is null or cannot open it
     */
    public static byte[] read(Path file, String shown, String purpose, SecretBox box) throws IOException {
        byte[] content = Files.readAllBytes(file);
        String text = new String(content, StandardCharsets.US_ASCII);
        if (!SecretBox.isSealed(text)) {
            return content;
        }
        if (box == null) {
            throw new IOException(shown + " is encrypted; set " + SecretBox.KEY_ENV + " to the key it was sealed with");
        }
        try {
            return box.open(text.trim(), purpose);
        } catch (SecretBox.OpenException e) {
            throw new IOException(shown + " is encrypted and " + SecretBox.KEY_ENV + " does not open it ("
                    + e.getMessage() + "); set it to the key the file was sealed with");
        }
    }

    /** Whether {@code file} holds sealed text. */
    public static boolean isSealed(Path file) throws IOException {
        return SecretBox.isSealed(new String(Files.readAllBytes(file), StandardCharsets.US_ASCII));
    }

    /** Writes {@code content} to {@code file}, readable only by its owner; sealed when {@code box} is not null. */
    public static void writePrivate(Path file, byte[] content, String purpose, SecretBox box) throws IOException {
        byte[] bytes = box == null ? content : (box.seal(content, purpose) + "\n").getBytes(StandardCharsets.US_ASCII);
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path temp;
        try {
            temp = Files.createTempFile(
                    dir,
                    "." + file.getFileName(),
                    ".tmp",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (UnsupportedOperationException notPosix) {
            temp = Files.createTempFile(dir, "." + file.getFileName(), ".tmp");
        }
        try {
            Files.write(temp, bytes);
            try {
                Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    /**
     * Seals {@code file} in place when it is plaintext; true when it did. The key must open what
     * is already sealed: a sealed file that this box cannot open is an error, not left alone.
     */
    public static boolean sealInPlace(Path file, String shown, String purpose, SecretBox box) throws IOException {
        if (isSealed(file)) {
            read(file, shown, purpose, box); // the key in use must open it
            return false;
        }
        writePrivate(file, Files.readAllBytes(file), purpose, box);
        return true;
    }
}
