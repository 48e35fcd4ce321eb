package org.elasticsearch.node;

import java.util.Collection;
import java.util.Map;

import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.MockPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

/**
 * A production Node whose plugins are classes on the classpath instead of a modules/ folder.
 *
 * <p>It lives in org.elasticsearch.node because Node's constructor from a NodeConstruction and the
 * NodeServiceProvider hook are package-private. It does what the test framework's MockNode does
 * without MockNode's environment preparation, which bootstraps the randomized test harness
 * (ESTestCase) and refuses to run as root. The default NodeServiceProvider methods build the
 * production services; only the plugin service is replaced, by the test framework's
 * MockPluginsService, which loads plugin classes from the classpath.
 */
public final class ReservoNode extends Node {
    /**
     * Prepares the environment (path.home, config folder, node name) of a node from its settings.
     */
    public static Environment environment(Settings settings) {
        return InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> "reservo-es");
    }

    /**
     * Prepares a node (not yet started) in an environment from {@link #environment}.
     */
    public ReservoNode(Environment environment, Collection<Class<? extends Plugin>> classpathPlugins) {
        super(
            NodeConstruction.prepareConstruction(
                environment,
                null,
                new NodeServiceProvider() {
                    @Override
                    PluginsService newPluginService(Environment environment, PluginsLoader pluginsLoader) {
                        return new MockPluginsService(environment.settings(), environment, classpathPlugins);
                    }
                },
                true
            )
        );
    }
}
