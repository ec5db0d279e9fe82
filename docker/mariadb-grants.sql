-- What the gateway's account needs: read and write the fleet tables (initdb, simulate),
-- and follow the binary log (`serve --changes binlog`). A read-only production gateway
-- needs only SELECT on the fleet database plus the two replication privileges.
GRANT SELECT, INSERT, UPDATE, CREATE, INDEX, ALTER ON fleet.* TO 'gateway'@'%';
GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'gateway'@'%';
