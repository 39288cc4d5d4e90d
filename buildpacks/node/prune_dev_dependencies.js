// A Yarn 2+ plugin slugbuild loads through YARN_PLUGINS for one command, `yarn slugbuild prune`: the
// installed tree loses every workspace's devDependencies (as Heroku's Yarn plugin does), package.json and
// yarn.lock stay as committed, and cache entries nothing needs any more are dropped.
module.exports = {
  name: "@slugbuild/plugin-prune",
  factory(require) {
    const { Cache, Configuration, Project, StreamReport } = require("@yarnpkg/core");
    const { Command } = require("clipanion");

    class PruneCommand extends Command {
      async execute() {
        const configuration = await Configuration.find(this.context.cwd, this.context.plugins);
        const { project } = await Project.find(configuration, this.context.cwd);
        const cache = await Cache.find(configuration);
        await project.restoreInstallState({ restoreResolutions: false });
        project.workspaces.forEach((workspace) => workspace.manifest.devDependencies.clear());
        const report = await StreamReport.start(
          { configuration, stdout: this.context.stdout, includeLogs: true },
          async (streamReport) => {
            // persistProject: false keeps the manifests and the lockfile as the app committed them.
            await project.install({ cache, report: streamReport, persistProject: false });
            await project.cacheCleanup({ cache, report: streamReport });
            await project.persistInstallStateFile();
          },
        );
        return report.exitCode();
      }
    }

    // Yarn 3 and 4 (clipanion 3) read `paths`; Yarn 2 (clipanion 2) registers through Command.Path.
    PruneCommand.paths = [["slugbuild", "prune"]];
    if (typeof Command.Path === "function") {
      Command.Path("slugbuild", "prune")(PruneCommand.prototype, "execute");
    }
    return { default: { commands: [PruneCommand] } };
  },
};
