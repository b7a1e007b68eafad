CREATE INDEX todos_done ON todos (done, id);
