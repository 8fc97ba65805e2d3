/// A failure of a command's work (bad input file, unwritable output): printed as
/// `Error: <message>` with exit code 1, without the usage text that argument errors get.
struct CommandError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
