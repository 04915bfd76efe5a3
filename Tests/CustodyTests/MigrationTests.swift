@testable import Custody
import Foundation
import Testing

struct MigrationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The binary embeds the SQL files; this fails if someone edits one without running tools/embed-migrations.py.
    @Test(arguments: [("sqlite", Migration.sqlite), ("postgres", Migration.postgres)])
    func embeddedMigrationsMatchTheFiles(dialect: String, embedded: [Migration]) throws {
        let folder = Self.repository.appendingPathComponent("database/migrations/\(dialect)")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files.count == embedded.count)
        for (file, migration) in zip(files, embedded) {
            #expect(file == String(format: "%04d_%@.sql", migration.version, migration.name))
            #expect(try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8) == migration.sql, "\(dialect)/\(file)")
        }
    }

    @Test func statementSplitting() {
        let sql = """
            -- a comment; with a semicolon
            CREATE TABLE a (x TEXT DEFAULT ';');  /* block; comment */
            INSERT INTO a VALUES ('it''s; fine');
            CREATE TABLE "b;c" (y INTEGER)
            """
        #expect(SQLStatements.split(sql) == [
            "CREATE TABLE a (x TEXT DEFAULT ';')",
            "INSERT INTO a VALUES ('it''s; fine')",
            "CREATE TABLE \"b;c\" (y INTEGER)",
        ])
        #expect(SQLStatements.split(Migration.sqlite[0].sql).count == 9)
        #expect(SQLStatements.split(Migration.postgres[0].sql).count == 9)
    }
}
