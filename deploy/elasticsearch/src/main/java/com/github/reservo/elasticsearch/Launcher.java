package com.github.reservo.elasticsearch;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.Node;
import org.elasticsearch.node.ReservoNode;
import org.elasticsearch.transport.netty4.Netty4Plugin;

/**
 * Runs one Elasticsearch 8 node in this JVM for Reservo's scale profile: the server jar and the
 * Netty4 module come from Maven Central, and {@link ReservoNode} takes the Netty4 plugin from
 * the classpath (there is no distribution with a modules/ folder here).
 *
 * <p>Configured by system properties: reservo.es.home (folder for config, data and logs,
 * required), reservo.es.http.port (19200), reservo.es.transport.port (19300). Everything binds
 * 127.0.0.1. Stops cleanly on SIGTERM (the shutdown hook closes the node).
 */
public final class Launcher {
    private Launcher() {}

    public static void main(String[] args) throws Exception {
        Path home = Path.of(required("reservo.es.home")).toAbsolutePath();
        String httpPort = System.getProperty("reservo.es.http.port", "19200");
        String transportPort = System.getProperty("reservo.es.transport.port", "19300");
        Path config = Files.createDirectories(home.resolve("config"));
        Files.createDirectories(home.resolve("data"));
        Files.createDirectories(home.resolve("logs"));
        try (InputStream in = Launcher.class.getResourceAsStream("/log4j2.properties")) {
            Files.copy(in, config.resolve("log4j2.properties"), StandardCopyOption.REPLACE_EXISTING);
        }

        Settings settings = Settings.builder()
            .put("cluster.name", "reservo")
            .put("node.name", "reservo-es")
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", transportPort)
            .put("http.type", "netty4")
            .put("transport.type", "netty4")
            // The disk of a developer machine or a CI runner is often more than 85% full; the
            // watermarks would then refuse to allocate shards or turn indices read-only.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .build();

        Environment environment = ReservoNode.environment(settings);
        LogConfigurator.setNodeName("reservo-es");
        LogConfigurator.setClusterName("reservo");
        LogConfigurator.configure(environment, true);

        Node node = new ReservoNode(environment, List.of(Netty4Plugin.class));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.prepareForClose();
                node.close();
                node.awaitClose(10, TimeUnit.SECONDS);
                System.out.println("reservo-elasticsearch: stopped");
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "reservo-es-shutdown"));
        node.start();
        System.out.println("reservo-elasticsearch: started http://127.0.0.1:" + httpPort);
        stopped.await();
    }

    private static String required(String name) {
        String v = System.getProperty(name);
        if (v == null || v.isEmpty()) {
            throw new IllegalArgumentException("system property " + name + " is required");
        }
        return v;
    }
}
